#!/usr/bin/env bash
# Runs the whole test suite on the compiled JavaScript (run scripts/setup.sh, or `npm test`,
# first): unit tests (packages/*/dist*/**/*.test.js), then integration tests (*.itest.js), one
# file at a time because they use the real host, then the host leak check.
# Readable output goes to the terminal; TAP copies land in test-results/.
# The last line is always "N passed, N failed". Exit status 0 only if everything passed and
# nothing leaked.
#
# Env: ATOLL_TEST_TIMEOUT_MS  per-test timeout (default 600000)
#      ATOLL_TEST_FILTER      only run files whose path matches this extended regex
#      ATOLL_TEST_NAME_PATTERN only run tests (or suites) whose name matches this regex (node
#                             --test-name-pattern; the others count as skipped)
#      ATOLL_TEST_RESULTS     where TAP copies and daemon logs go (default test-results)
#      ATOLL_TEST_TIER        "unit": only the unit tests (no root, no host resources, no leak
#                             check; `npm run test:unit`, docs/testing.md)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
mkdir -p "${ATOLL_TEST_RESULTS:-test-results}"
results=$(cd "${ATOLL_TEST_RESULTS:-test-results}" && pwd)
export ATOLL_TEST_RESULTS=$results
rm -rf "$results"/*.tap "$results"/attacks.jsonl "$results"/daemons
timeout_ms=${ATOLL_TEST_TIMEOUT_MS:-600000}
filter=${ATOLL_TEST_FILTER:-.}
unit_only=0
[[ ${ATOLL_TEST_TIER:-} == unit ]] && unit_only=1
name_args=()
[[ -n ${ATOLL_TEST_NAME_PATTERN:-} ]] && name_args=(--test-name-pattern="$ATOLL_TEST_NAME_PATTERN")

# node 20 does not expand globs for --test, so list the files here.
list_tests() {
  local suffix=$1 dirs=()
  for d in packages/*/dist*; do [[ -d $d ]] && dirs+=("$d"); done
  ((${#dirs[@]} > 0)) || return 0
  find "${dirs[@]}" -type f -name "*$suffix" -not -path '*/node_modules/*' | grep -E -- "$filter" | sort | while read -r f; do
    # A test whose source is gone (renamed, moved to another tier) is a stale build output: skip it.
    local src=${f/\/dist\//\/src\/}
    [[ -f ${src%.js}.ts ]] && echo "$f"
  done
}
mapfile -t unit_files < <(list_tests .test.js)
mapfile -t integration_files < <(list_tests .itest.js)

total_pass=0
total_fail=0
status=0

# run_group NAME FILES... : one node --test run, summary lines printed from its TAP copy.
run_group() {
  local name=$1
  shift
  if (($# == 0)); then
    echo "== $name tests: no test files found"
    return
  fi
  echo "== $name tests ($# files)"
  local tap="$results/$name.tap"
  node --test --test-concurrency=1 --test-timeout="$timeout_ms" "${name_args[@]}" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    "$@"
  local rc=$?
  echo "== $name tests: summary"
  grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$tap" 2>/dev/null || echo "# (no summary: the test runner did not finish)"
  local pass fail cancelled
  pass=$(awk '/^# pass / { print $3 }' "$tap" 2>/dev/null | tail -1)
  fail=$(awk '/^# fail / { print $3 }' "$tap" 2>/dev/null | tail -1)
  cancelled=$(awk '/^# cancelled / { print $3 }' "$tap" 2>/dev/null | tail -1)
  pass=${pass:-0}
  fail=$((${fail:-0} + ${cancelled:-0}))
  # A runner that failed without reporting a failed test (crash, bad flag) still fails the run.
  if ((rc != 0 && fail == 0)); then fail=1; fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  if ((rc != 0)); then status=1; fi
}

if ((unit_only)); then
  run_group unit "${unit_files[@]}"
  echo "$total_pass passed, $total_fail failed"
  ((total_fail == 0)) || status=1
  exit "$status"
fi

bash scripts/leak-check.sh snapshot "$results/leak-snapshot.txt" || status=1

run_group unit "${unit_files[@]}"
run_group integration "${integration_files[@]}"

# The standing attack suite's rows (packages/server/src/e2e/attack-table.ts), as one table.
if [[ -s $results/attacks.jsonl ]]; then
  echo "== attack suite"
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
    console.table(rows.map((r) => ({ area: r.area, attack: r.attack, as: r.as, expected: r.expected, observed: r.observed, held: r.held ? "held" : "BROKEN" })));
    const bad = rows.filter((r) => !r.held).length;
    console.log(`${rows.length} attacks, ${rows.length - bad} held, ${bad} broken`);
  ' "$results/attacks.jsonl"
fi

echo "== leak check"
bash scripts/leak-check.sh compare "$results/leak-snapshot.txt" || status=1

if ((total_fail > 0)); then status=1; fi
echo "$total_pass passed, $total_fail failed"
exit "$status"
