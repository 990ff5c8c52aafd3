#!/usr/bin/env bash
# Host resources that Atoll code or tests may leave behind, before vs after the test suite.
#   leak-check.sh snapshot FILE   record what exists now
#   leak-check.sh compare FILE    list what exists now but did not at snapshot time; exit 1 if any
# Covered: loop devices backed by a file whose path contains "atoll", mounts whose target or
# source contains "atoll", network namespaces, nftables tables and links named atoll*, cgroups
# below atoll*/ (v1 and v2), processes named atoll-init, atoll-launch, bwrap, atoll-netd, atoll-nsconnect
# or lxcfs (the daemon's /proc view).
# Only new entries count, so a daemon running beside the suite (`npm start`) is not a leak.
# New /tmp/atoll* entries are reported as a warning only.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

leak_processes=${ATOLL_LEAK_PROCESSES:-"atoll-init atoll-launch bwrap atoll-netd atoll-nsconnect lxcfs"}
link_pattern=${ATOLL_LEAK_LINK_PATTERN:-'^(atoll|atl)'}

# One line per resource: "<kind> <identity>". Sorted, so `comm` can diff two snapshots.
collect() {
  {
    losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null |
      awk 'tolower($0) ~ /atoll/ { print "loop", $1, $2 }'

    findmnt --raw --noheadings --output TARGET,SOURCE 2>/dev/null |
      awk 'tolower($0) ~ /atoll/ { print "mount", $1, $2 }'

    ip netns list 2>/dev/null | awk '$1 ~ /^atoll/ { print "netns", $1 }'

    ip -o link show 2>/dev/null |
      awk -F': ' -v pat="$link_pattern" '{ split($2, n, "@"); if (n[1] ~ pat) print "link", n[1] }'

    nft list tables 2>/dev/null | awk '$3 ~ /^atoll/ { print "nft", $2, $3 }'

    # cgroup v2: /sys/fs/cgroup/atoll*/...; v1: /sys/fs/cgroup/<controller>/atoll*/...
    # The shared parent "atoll" itself may stay; anything below it, or another atoll* tree, may not.
    for parent in /sys/fs/cgroup/atoll* /sys/fs/cgroup/*/atoll*; do
      [[ -d $parent ]] || continue
      case $parent in
        /sys/fs/cgroup/atoll | /sys/fs/cgroup/*/atoll) ;;
        *) echo "cgroup $parent" ;;
      esac
      find "$parent" -mindepth 1 -type d 2>/dev/null | sed 's/^/cgroup /'
    done

    for name in $leak_processes; do
      ps -eo pid=,comm= | awk -v n="$name" '$2 == n { print "process", $1, $2 }'
    done
  } | sort -u
}

collect_tmp() {
  find /tmp -maxdepth 1 -name 'atoll*' 2>/dev/null | sed 's/^/tmp /' | sort -u
}

cmd=${1:-}
file=${2:-}
[[ -n $cmd && -n $file ]] || { echo "usage: $0 snapshot|compare FILE" >&2; exit 2; }

case $cmd in
  snapshot)
    mkdir -p "$(dirname "$file")"
    collect >"$file"
    collect_tmp >"$file.tmp"
    ;;
  compare)
    [[ -f $file ]] || { echo "leak check: no snapshot at $file" >&2; exit 2; }
    # Processes and lazily released loop devices may take a moment to go away after the last
    # test: look again a few times before calling it a leak.
    leaks=""
    for _ in 1 2 3 4 5; do
      leaks=$(comm -13 "$file" <(collect))
      [[ -z $leaks ]] && break
      sleep 1
    done
    tmp_left=$(comm -13 "$file.tmp" <(collect_tmp) || true)
    if [[ -n $tmp_left ]]; then
      echo "leak check: warning, test files left in /tmp:"
      sed 's/^/  /' <<<"$tmp_left"
    fi
    if [[ -n $leaks ]]; then
      echo "leak check: FAILED, host resources left behind by the tests:"
      sed 's/^/  /' <<<"$leaks"
      exit 1
    fi
    echo "leak check: ok (no loop devices, mounts, netns, links, nft tables, cgroups or processes left)"
    ;;
  *)
    echo "usage: $0 snapshot|compare FILE" >&2
    exit 2
    ;;
esac
