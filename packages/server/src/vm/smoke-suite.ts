/**
 * The tests `npm run test:vm` runs in its cgroup v2 guest: existing integration tests, chosen by
 * file and name, kept to what cgroup v2 can break (node runs about 15× slower under emulation).
 * scripts/run-tests.sh runs them in the guest (ATOLL_TEST_FILTER, ATOLL_TEST_NAME_PATTERN) and
 * ends with the leak check.
 */

export interface SmokeFile {
  /** Path under packages/server/src, without `.ts`. */
  file: string;
  /** Exact test (or suite) names. */
  tests: string[];
  /** What it proves on cgroup v2. */
  why: string;
}

export const SMOKE_SUITE: readonly SmokeFile[] = [
  {
    file: "runtime/launcher-pool.itest",
    why: "pooled launchers fork into the sandbox's cgroup (no renames on v2)",
    tests: ["a pooled launcher starts its sandbox inside the sandbox's cgroup", "a launcher that dies while it waits is never handed out"],
  },
  {
    file: "runtime/bwrap-runtime.itest",
    why: "limits in the cgroup files, OOM and fork-bomb reporting, stats, busy processes, every cleanup path",
    tests: [
      "reports stats",
      "hot-attaches and detaches a volume, and reports processes that keep it busy",
      "puts every process of the sandbox under its memory, pids and cpu weight limits",
      "reports oom: true when the memory limit kills a process",
      "kill() leaves no cgroup, mount, loop device or process behind, and is idempotent",
      "stops and cleans up when init dies on its own",
      "cleanupOrphans removes sandboxes it does not know",
      "fails a launch cleanly and leaves nothing behind",
    ],
  },
  {
    file: "runtime/proc-view.itest",
    why: "lxcfs answers from the sandbox's v2 memory.max; the read-only cgroup view is the v2 directory; lxcfs's own cgroup goes",
    tests: [
      "sees 512 MiB in free and /proc/meminfo, and MemAvailable follows what it uses",
      "Node inside agrees: os.totalmem(), process.constrainedMemory(), its heap limit",
      "reads its own limits under /sys/fs/cgroup; root inside cannot change them (read-only, locked)",
      "two sandboxes see their own numbers",
      "closing the runtime stops lxcfs and removes its mount and cgroup",
    ],
  },
  {
    file: "e2e/limits-lifecycle.itest",
    why: "create/exec/kill through the daemon, OOM reported, pids limit",
    tests: ["a command killed by the memory limit reports oom: true; the sandbox lives on", "a fork bomb is contained by the pids limit"],
  },
  {
    file: "e2e/volume-rules.itest",
    why: "volumes rw/ro with their size enforced, hot detach (busy processes come from the cgroup)",
    tests: [
      "a write past the volume's size gets ENOSPC inside the sandbox; the sandbox and the root fs keep working",
      "a read-only mount stays read-only for sandbox root: writes, remount, bind, new mount namespaces",
      "hot attach and detach on a running sandbox; detach refuses while files are open unless forced",
    ],
  },
  {
    file: "e2e/network-policy.itest",
    why: "allowNet against the fake internet (the sandbox's netns joined from inside its cgroup)",
    tests: ["a host name allows that name on every port, over HTTP and HTTPS, and nothing else"],
  },
  {
    file: "e2e/volume-persistence.itest",
    why: "daemon kill -9 and restart: the writing sandbox adopted on cgroup v2 and goes on, nothing leaked once killed",
    tests: ["after kill -9 of the daemon mid-write: synced data intact, store consistent, nothing leaked"],
  },
  {
    file: "e2e/attack-socket-memory.itest",
    why: "socket buffers charged to memory.max (the attack table prints what was measured)",
    tests: [
      "socket memory: connection pairs nobody reads stay within the sandbox's limit and its share of the host's TCP memory; the neighbour still works",
      "attack table",
    ],
  },
  {
    file: "e2e/systemd-service.itest",
    why: "atoll service install on a real systemd: journal, systemctl restart and a crash keep the sandbox (KillMode=process), uninstall",
    tests: ["atoll service install runs the daemon under systemd; restart and a crash keep the sandbox running; uninstall removes it"],
  },
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** ATOLL_TEST_FILTER for scripts/run-tests.sh: the suite's files (compiled, under dist/). */
export function smokeFileFilter(suite: readonly SmokeFile[] = SMOKE_SUITE): string {
  return `/(${suite.map((f) => escapeRegExp(f.file)).join("|")})\\.js$`;
}

/** ATOLL_TEST_NAME_PATTERN: exactly the suite's test names. */
export function smokeNamePattern(suite: readonly SmokeFile[] = SMOKE_SUITE): string {
  return `^(${suite.flatMap((f) => f.tests.map(escapeRegExp)).join("|")})$`;
}
