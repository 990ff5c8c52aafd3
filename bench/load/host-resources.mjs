/** Counts of host resources, to compare before and after a load run. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";

const count = (fn) => {
  try {
    return fn();
  } catch {
    return 0;
  }
};

/** Everything a leak would show up in, for the daemon `pid` with state directory `stateDir`. */
export function snapshot(pid, stateDir) {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  // The daemon's cgroup parent: "atoll" for /var/lib/atoll, else "atoll-<hash of the state dir>"
  // (packages/server/src/daemon-config.ts); other daemons' sandboxes are not counted.
  const parentName = stateDir === "/var/lib/atoll" ? "atoll" : `atoll-${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}`;
  const parents = () =>
    ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
      .map((b) => `${b}/${parentName}`)
      .filter((p) => existsSync(p))
      .slice(0, 1);
  const sandboxCgroups = () =>
    parents().flatMap((p) =>
      readdirSync(p, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => `${p}/${d.name}`),
    );
  return {
    mounts: mountinfo.filter((l) => l.includes(`${stateDir}/run/`) && !l.includes(`${stateDir}/run/pool/`)).length,
    poolMounts: mountinfo.filter((l) => l.includes(`${stateDir}/run/pool/`)).length,
    loopDevices: count(
      () =>
        execFileSync("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"], { encoding: "utf8" })
          .split("\n")
          .filter((l) => l.includes(stateDir) && !l.includes("/scratch/pool-")).length,
    ),
    netns: count(
      () =>
        execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
          .split("\n")
          .filter((l) => l.startsWith("atoll")).length,
    ),
    cgroups: sandboxCgroups().length,
    daemonFds: readdirSync(`/proc/${pid}/fd`).length,
    daemonRssMiB: Math.round(kb("VmRSS") / 1024),
    sandboxProcesses: sandboxCgroups().reduce((n, cg) => n + count(() => readFileSync(`${cg}/cgroup.procs`, "utf8").split("\n").filter(Boolean).length), 0),
  };
}

/** Host memory actually available (MemAvailable), in bytes. */
export function memAvailable() {
  return Number(/MemAvailable:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))[1]) * 1024;
}

export function printBeforeAfter(before, after) {
  const rows = Object.keys(before).map((k) => ({ resource: k, before: before[k], after: after[k], delta: after[k] - before[k] }));
  console.table(rows);
}
