#!/usr/bin/env bash
# Fuzzes the parsers that face sandboxes (docs/security.md, "Fuzzing"), every target for SECONDS
# (default 60): the C tar targets with libFuzzer (packages/server/fuzz; clang from
# `scripts/setup.sh --test`), then the property fuzz tests (*.fuzz.test.js, fast-check) with
# ATOLL_FUZZ_SECONDS=SECONDS, which the netd ones spend on each property.
# Inputs that found new coverage land in test-results/fuzz/<target>/ (copy the telling ones into
# packages/server/fuzz/corpus/<target>/), crashes in test-results/fuzz/<target>-crash-*.
#
# Usage: npm run fuzz [-- SECONDS]     Exit status 0 only if no target found a failure.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: npm run fuzz [-- SECONDS]" >&2; exit 2; }
npm run --silent build || exit 1
make -s -C packages/server/fuzz || { echo "✗ the libFuzzer targets need clang-14 and libclang-rt-14-dev: run scripts/setup.sh --test" >&2; exit 1; }

status=0
out=test-results/fuzz
for target in tar-read tar-write tar-extract; do
  mkdir -p "$out/$target"
  echo "== $target: libFuzzer for $seconds s (log: $out/$target.log)"
  if packages/server/fuzz/build/$target -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$out/$target-" "$out/$target" packages/server/fuzz/corpus/$target >"$out/$target.log" 2>&1; then
    grep -E '^Done|stat::number_of_executed_units|stat::new_units_added' "$out/$target.log"
  else
    status=1
    grep -E 'ERROR|SUMMARY|Test unit written' "$out/$target.log"
  fi
done

echo "== property fuzz tests: $seconds s per netd property"
mapfile -t files < <(find packages/server/dist -name '*.fuzz.test.js' -not -path '*/node_modules/*' | sort)
ATOLL_FUZZ_SECONDS=$seconds node --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=1

if ((status == 0)); then echo "fuzz: no failure found"; else echo "fuzz: FAILURES (above)"; fi
exit "$status"
