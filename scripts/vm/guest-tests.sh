#!/usr/bin/env bash
# Runs inside the test:vm guest (packages/server/src/vm/), started by the guest's
# atoll-vm-job.service with the checkout mounted read-only at its host path. Prints what the
# guest is (kernel, cgroup hierarchy) and runs the chosen integration tests with
# scripts/run-tests.sh (its leak check included); the last line is "N passed, N failed".
# Env (from the host's job.env): ATOLL_TEST_FILTER, ATOLL_TEST_NAME_PATTERN, ATOLL_TEST_RESULTS.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

echo "guest: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), node $(node --version)"
echo "guest: /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
echo "guest: this job runs in cgroup $(cut -d: -f3 /proc/self/cgroup | head -1)"
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "guest: not the unified hierarchy"; echo "0 passed, 1 failed"; exit 1; }

bash scripts/run-tests.sh
