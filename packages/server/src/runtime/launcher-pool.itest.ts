/**
 * The launcher pool against real cgroups and the real atoll-launch (cgroup v1: the pool needs
 * cgroup renames). A launcher taken the instant it is in the pool must be alive and inside the
 * sandbox's cgroup: the pool once listed a launcher right after spawn, a take renamed its cgroup
 * before the launcher had opened `pool-<random>/cgroup.procs`, the launcher died of ENOENT and
 * the create waited 15 s for an init that never came ("atoll-init did not become ready").
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { SandboxLimits } from "../core/drivers.js";
import { type CgroupDriver, detectCgroups } from "./cgroups.js";
import { LauncherPool } from "./launcher-pool.js";

const LAUNCHER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build/atoll-launch");
const PARENT = `atoll-itest-pool-${process.pid}`;
const LIMITS: SandboxLimits = { memoryBytes: 256 * 2 ** 20, pids: 64, cpuWeight: 100, rootfsBytes: 0 };

let cgroups: CgroupDriver;
let pool: LauncherPool;

before(async () => {
  cgroups = await detectCgroups({ parent: PARENT });
  await cgroups.setup();
  pool = new LauncherPool({ cgroups, launcher: LAUNCHER, target: 2 });
});

after(async () => {
  await pool?.close();
  for (const id of await cgroups.list()) await cgroups.open(id).destroy();
  await cgroups.removeParent();
});

/** The cgroup paths of `pid` in the hierarchies that have a controller (v1). */
function cgroupPaths(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .filter((l) => /:(memory|pids|cpu|cpuacct|cpu,cpuacct):/.test(l))
    .map((l) => l.split(":")[2]!);
}

test("a launcher taken the moment it is pooled is alive and in the sandbox's cgroup", async (t) => {
  if (cgroups.version === 2) return t.skip("cgroup v2 cannot rename cgroups: no launcher pool");
  for (let i = 0; i < 20; i++) {
    pool.warm();
    const deadline = Date.now() + 10_000;
    while (pool.size === 0) {
      assert.ok(Date.now() < deadline, "the pool never filled");
      await new Promise((r) => setImmediate(r));
    }
    const id = `take-${i}`;
    const taken = await pool.take(id, LIMITS);
    assert.ok(taken, "a waiting launcher");
    try {
      await sleep(50); // a launcher racing the rename dies within milliseconds
      assert.equal(taken.launcher.exit, undefined, `launcher ${i} died: ${taken.launcher.stderr.trim()}`);
      const paths = cgroupPaths(taken.launcher.proc.pid!);
      assert.ok(paths.length >= 3, paths.join(" "));
      for (const p of paths) assert.equal(p, `/${PARENT}/${id}`);
    } finally {
      taken.launcher.proc.stdin.end();
      await taken.cgroup.destroy();
    }
  }
});

test("a launcher that dies while it waits is never handed out", async (t) => {
  if (cgroups.version === 2) return t.skip("cgroup v2 cannot rename cgroups: no launcher pool");
  pool.warm();
  const deadline = Date.now() + 10_000;
  while (pool.size < 2) {
    assert.ok(Date.now() < deadline, "the pool never filled");
    await sleep(5);
  }
  const waiting = (await cgroups.list()).filter((id) => id.startsWith("pool-"));
  const pids = (await Promise.all(waiting.map((id) => cgroups.open(id).pids()))).flat();
  assert.equal(pids.length, 2, `two waiting launchers: ${waiting.join(" ")}`);
  for (const pid of pids) process.kill(pid, "SIGKILL");
  // Taken at once: the daemon has not seen the deaths yet when the take starts.
  const taken = await pool.take("take-dead", LIMITS);
  if (taken) {
    // Only a launcher the pool started after the kills may come back, alive.
    assert.ok(!pids.includes(taken.launcher.proc.pid!), "a killed launcher was handed out");
    taken.launcher.proc.stdin.end();
    await taken.cgroup.destroy();
  } else {
    await sleep(100);
    assert.ok(!(await cgroups.list()).includes("take-dead"), "the dead launcher's renamed cgroup is removed");
  }
});
