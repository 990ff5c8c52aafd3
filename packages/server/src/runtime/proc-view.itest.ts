/**
 * Sandboxes see a machine of their own size (issue 11, item 4): lxcfs's /proc files and the
 * sandbox's own cgroups at /sys/fs/cgroup, on the real host. Run:
 * `npm run build && ATOLL_TEST_FILTER='proc-view' bash scripts/run-tests.sh`
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LaunchSpec, RuntimeSandbox, SandboxLimits } from "../core/drivers.js";
import { findMount, mountsUnder, readMountInfo, umount } from "../host/mounts.js";
import type { BwrapRuntime } from "./bwrap-runtime.js";
import { type CgroupDriver, detectCgroups } from "./cgroups.js";
import { type AttackRow, broken, reportAttacks } from "../e2e/attack-table.js";
import { PROC_VIEW_CGROUP } from "./proc-view.js";
import { TEST_UID_BASE, p50, sh, unpooledRuntime } from "./runtime-test-helpers.js";
import { buildTestRootfs } from "./test-rootfs.js";
import { execFileRunner as runner } from "../host/run-command.js";

const UID_BASE = TEST_UID_BASE;
const CGROUP_PARENT = `atoll-pv-itest-${process.pid}`;
const MiB = 2 ** 20;
const limits = (memoryBytes: number): SandboxLimits => ({ memoryBytes, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 });

/** "MemTotal:  524288 kB" lines of a meminfo text → bytes by key. */
function meminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+(?:\(\w+\))?):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) * 1024;
  return out;
}

async function lxcfsFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

describe("sandboxes see their own size (lxcfs and the cgroup view)", () => {
  let work: string;
  let runDir: string;
  let rootfs: string;
  let runtime: BwrapRuntime;
  let cgroups: CgroupDriver;
  const spec = (id: string, memoryBytes = 512 * MiB): LaunchSpec => ({ id, imageRootfs: rootfs, limits: limits(memoryBytes), mounts: [] });
  const lxcfsPid = async () => Number.parseInt(await readFile(path.join(runDir, "lxcfs.pid"), "utf8"), 10);
  /** The sandbox's memory limit file on the host and as the sandbox sees it. */
  const limitFile = (id: string) =>
    cgroups.version === 1
      ? {
          host: `${cgroups.open(id).viewDirs.find((v) => v.target.endsWith("/memory"))!.dir}/memory.limit_in_bytes`,
          inside: "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        }
      : { host: `${cgroups.open(id).viewDirs[0]!.dir}/memory.max`, inside: "/sys/fs/cgroup/memory.max" };

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), "atoll-pv-"));
    await chmod(work, 0o755);
    const stateDir = path.join(work, "state");
    runDir = path.join(stateDir, "run");
    rootfs = await buildTestRootfs(work, UID_BASE);
    cgroups = await detectCgroups({ parent: CGROUP_PARENT });
    runtime = unpooledRuntime(stateDir, CGROUP_PARENT);
    await runtime.cleanupOrphans(new Set()); // sets the runtime up: lxcfs starts here
  });

  after(async () => {
    await runtime.cleanupOrphans(new Set());
    await runtime.close();
    await cgroups.removeParent();
    await umount(runner, runDir, { lazy: true });
    await rm(work, { recursive: true, force: true });
  });

  describe("a 512 MiB sandbox", () => {
    let sb: RuntimeSandbox;
    let launchedAt: number;
    before(async () => {
      launchedAt = Date.now();
      sb = await runtime.launch(spec("pv-main"));
    });
    after(() => sb.kill());

    it("sees 512 MiB in free and /proc/meminfo, and MemAvailable follows what it uses", async () => {
      const free = await sh(sb, "free -m");
      assert.match(free.out, /^Mem:\s+512\s/m, free.out);
      assert.match(free.out, /^Swap:\s+0\s/m);
      const idle = meminfo((await sh(sb, "cat /proc/meminfo")).out);
      assert.equal(idle.MemTotal, 512 * MiB);
      assert.ok(idle.MemAvailable! > 400 * MiB, `MemAvailable ${idle.MemAvailable} while idle`);
      // A process holding 200 MiB of anonymous memory (touched) reads meminfo while it holds it.
      const held = await sh(
        sb,
        `node -e 'const b = Buffer.alloc(200 * 2 ** 20, 1); console.log(require("fs").readFileSync("/proc/meminfo", "utf8"), b.length)'`,
      );
      assert.equal(held.exit?.code, 0, held.err);
      const busy = meminfo(held.out);
      assert.ok(busy.MemAvailable! < idle.MemAvailable! - 190 * MiB, `MemAvailable ${idle.MemAvailable} → ${busy.MemAvailable} with 200 MiB in use`);
      // The probe shows the view, not the host: the host's meminfo has other figures.
      assert.notEqual(meminfo(await readFile("/proc/meminfo", "utf8")).MemTotal, 512 * MiB);
    });

    it("Node inside agrees: os.totalmem(), process.constrainedMemory(), its heap limit", async () => {
      assert.ok(existsSync(path.join(rootfs, "usr/bin/node")), "the test rootfs has the host's node");
      const js = `const os = require("os"); console.log(JSON.stringify({ total: os.totalmem(), constrained: process.constrainedMemory(), free: os.freemem(), parallelism: os.availableParallelism(), cpus: os.cpus().length, heap: require("v8").getHeapStatistics().heap_size_limit }))`;
      const r = await sh(sb, `node -e '${js}'`);
      assert.equal(r.exit?.code, 0, r.err);
      const seen = JSON.parse(r.out) as Record<string, number>;
      assert.equal(seen.total, 512 * MiB);
      assert.equal(seen.constrained, 512 * MiB);
      assert.ok(seen.free! <= 512 * MiB && seen.free! > 0);
      assert.ok(seen.heap! < 512 * MiB, `V8 sized its heap from the sandbox (${seen.heap! / MiB} MiB)`);
      // No CPU count limit (CPU is shared by weight): every host CPU may run the sandbox.
      assert.equal(seen.parallelism, os.availableParallelism());
      assert.equal(seen.cpus, os.cpus().length);
    });

    it("nproc, /proc/cpuinfo and /proc/stat show every host CPU (CPU is shared by weight, not counted)", async () => {
      assert.equal((await sh(sb, "nproc")).out.trim(), String(os.availableParallelism()));
      assert.equal((await sh(sb, "grep -c ^processor /proc/cpuinfo")).out.trim(), String(os.cpus().length));
      assert.equal((await sh(sb, "grep -c '^cpu[0-9]' /proc/stat")).out.trim(), String(os.cpus().length));
    });

    it("/proc/uptime counts from the sandbox's start", async () => {
      const inside = Number((await sh(sb, "cat /proc/uptime")).out.split(" ")[0]);
      const host = Number((await readFile("/proc/uptime", "utf8")).split(" ")[0]);
      assert.ok(inside <= (Date.now() - launchedAt) / 1000 + 1, `uptime ${inside} s, launched ${(Date.now() - launchedAt) / 1000} s ago`);
      assert.ok(host > inside);
    });

    it("reads its own limits under /sys/fs/cgroup; root inside cannot change them (read-only, locked)", async () => {
      const file = limitFile("pv-main");
      assert.equal((await sh(sb, `cat ${file.inside}`)).out.trim(), String(512 * MiB));
      const pidsMax = cgroups.version === 1 ? "/sys/fs/cgroup/pids/pids.max" : "/sys/fs/cgroup/pids.max";
      assert.equal((await sh(sb, `cat ${pidsMax}`)).out.trim(), "256");
      // The cgroup namespace is rooted at the sandbox's cgroup, as in a container.
      const own = await sh(sb, "cat /proc/self/cgroup");
      assert.match(own.out, cgroups.version === 1 ? /^\d+:memory:\/$/m : /^0::\/$/m);
      const mountinfo = (await sh(sb, "grep ' /sys/fs/cgroup' /proc/self/mountinfo")).out;
      for (const line of mountinfo.trim().split("\n")) assert.match(line, /^\d+ \d+ \S+ \/ \/sys\/fs\/cgroup\S* ro,/, line);

      const mountDir = path.dirname(file.inside);
      const attempts = {
        write: `echo ${1024 * MiB} > ${file.inside}`,
        create: `mkdir ${mountDir}/escape`,
        join: `echo $$ > ${mountDir}/cgroup.procs`,
        remount: `mount -o remount,rw ${mountDir}`,
        rebind: `mount -o remount,bind,rw ${mountDir}`,
        unmount: `umount ${mountDir}`,
        lazyUnmount: `umount -l ${mountDir}`,
      };
      const rows: AttackRow[] = [];
      for (const [what, cmd] of Object.entries(attempts)) {
        const r = await sh(sb, cmd, "root");
        const limitNow = (await readFile(file.host, "utf8")).trim();
        const created = existsSync(`${path.dirname(file.host)}/escape`);
        const observed = `exit ${r.exit?.code}: ${r.err.trim().split("\n")[0] ?? ""}; limit ${limitNow}${created ? ", cgroup created" : ""}`;
        rows.push({
          area: "cgroup view",
          attack: `${what}: ${cmd}`,
          as: "root",
          expected: "fails, limit unchanged",
          observed,
          held: r.exit?.code !== 0 && limitNow === String(512 * MiB) && !created,
        });
      }
      reportAttacks("== cgroup view: sandbox root against its own limits", rows);
      assert.deepEqual(broken(rows), []);
      const after = await sh(sb, `cat ${file.inside}; test -d ${mountDir}/escape && echo created`, "root");
      assert.equal(after.out.trim(), String(512 * MiB));
      // Outside the defence the same write works: host root writes that file (the same value).
      await writeFile(file.host, String(512 * MiB));
    });
  });

  it("two sandboxes see their own numbers", async () => {
    const [a, b] = await Promise.all([runtime.launch(spec("pv-a", 256 * MiB)), runtime.launch(spec("pv-b", 768 * MiB))]);
    try {
      for (const [sb, size] of [
        [a, 256],
        [b, 768],
        [a, 256],
      ] as const) {
        assert.equal(meminfo((await sh(sb, "cat /proc/meminfo")).out).MemTotal, size * MiB, sb.id);
        assert.equal((await sh(sb, `cat ${limitFile(sb.id).inside}`)).out.trim(), String(size * MiB), sb.id);
      }
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  it("a sandbox flooding lxcfs with reads neither breaks nor starves its neighbour's", async () => {
    const [flood, neighbour] = await Promise.all([runtime.launch(spec("pv-flood", 256 * MiB)), runtime.launch(spec("pv-neighbour"))]);
    try {
      const quiet: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await sh(neighbour, "cat /proc/meminfo > /dev/null");
        quiet.push(performance.now() - t);
      }
      // 16 readers in a loop, as root, for as long as the neighbour reads.
      void sh(flood, "for i in $(seq 16); do (while :; do cat /proc/meminfo /proc/uptime /proc/swaps > /dev/null; done) & done; wait", "root");
      await sleep(500);
      const cpuBefore = (await cgroups.open(PROC_VIEW_CGROUP).stats()).cpuUsageNs;
      const loaded: number[] = [];
      let own = 0;
      for (let i = 0; i < 40; i++) {
        const t = performance.now();
        const r = await sh(neighbour, "cat /proc/meminfo");
        loaded.push(performance.now() - t);
        if (meminfo(r.out).MemTotal === 512 * MiB) own++;
      }
      const lxcfsCpuMs = ((await cgroups.open(PROC_VIEW_CGROUP).stats()).cpuUsageNs - cpuBefore) / 1e6;
      const observed = `${own}/40 reads with its own figures; p50 ${p50(quiet).toFixed(1)} ms quiet, ${p50(loaded).toFixed(1)} ms flooded; lxcfs ${lxcfsCpuMs.toFixed(0)} ms CPU in its own cgroup`;
      const rows = [
        {
          area: "lxcfs",
          attack: "16 readers of /proc/meminfo, uptime, swaps in a loop",
          as: "root",
          expected: "the neighbour reads its own figures every time",
          observed,
          held: own === 40,
        },
      ];
      reportAttacks("== lxcfs: one sandbox floods the shared /proc view", rows);
      assert.deepEqual(broken(rows), []);
      assert.ok(lxcfsCpuMs > 0, "lxcfs's work is charged to its own cgroup");
    } finally {
      await Promise.all([flood.kill(), neighbour.kill()]);
    }
  });

  it("a stopped sandbox leaves no mount and, once lxcfs prunes its cache, no lxcfs state", async () => {
    const pid = await lxcfsPid();
    const keeper = await runtime.launch(spec("pv-keeper"));
    try {
      await sh(keeper, "cat /proc/uptime");
      const baseline = await lxcfsFds(pid);
      for (let i = 0; i < 5; i++) {
        const sb = await runtime.launch(spec(`pv-cycle-${i}`));
        // uptime makes lxcfs look up (and cache, with a pidfd) the sandbox's pid 1.
        assert.equal(
          (await sh(sb, "cat /proc/uptime >/dev/null && cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")).exit?.code,
          0,
        );
        await sb.kill();
        assert.deepEqual(mountsUnder(await readMountInfo(), path.join(runDir, "sandboxes", `pv-cycle-${i}`)), []);
      }
      // lxcfs forgets a pid namespace 10 s after its last read, at a lookup at least 5 s after
      // the previous prune: wait past both, then make one lookup.
      await sleep(12_000);
      await sh(keeper, "cat /proc/uptime");
      const left = await lxcfsFds(pid);
      console.log(`# lxcfs fds: ${baseline} with one sandbox, ${left} after 5 more came and went`);
      assert.ok(left <= baseline, `lxcfs holds ${left} fds, ${baseline} before`);
    } finally {
      await keeper.kill();
    }
  });

  it("an lxcfs that dies is restarted; sandboxes still start meanwhile, and new ones get the view again", async () => {
    const first = await lxcfsPid();
    const old = await runtime.launch(spec("pv-old"));
    try {
      process.kill(first, "SIGKILL"); // the lxcfs this test's runtime started
      // A sandbox launched right now starts (with the host's files if lxcfs is not back yet).
      const meanwhile = await runtime.launch(spec("pv-meanwhile"));
      assert.equal((await sh(meanwhile, "head -1 /proc/meminfo")).exit?.code, 0);
      await meanwhile.kill();
      let second = first;
      for (let i = 0; i < 300 && (second === first || !(await findMount(path.join(runDir, "lxcfs")))); i++) {
        await sleep(100);
        second = await lxcfsPid().catch(() => first);
      }
      assert.notEqual(second, first, "a new lxcfs runs");
      const fresh = await runtime.launch(spec("pv-fresh", 384 * MiB));
      assert.equal(meminfo((await sh(fresh, "cat /proc/meminfo")).out).MemTotal, 384 * MiB);
      await fresh.kill();
      // A sandbox started before keeps the dead mount: its reads fail, nothing else does.
      const stale = await sh(old, "cat /proc/meminfo");
      console.log(`# a sandbox started before the restart reads /proc/meminfo: exit ${stale.exit?.code} ${stale.err.trim()}`);
      assert.equal((await sh(old, "echo alive")).out, "alive\n");
    } finally {
      await old.kill();
    }
  });

  it("closing the runtime stops lxcfs and removes its mount and cgroup", async () => {
    const pid = await lxcfsPid();
    await runtime.close();
    assert.equal(await findMount(path.join(runDir, "lxcfs")), undefined);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.deepEqual(
      (await cgroups.list()).filter((c) => c === PROC_VIEW_CGROUP),
      [],
    );
  });
});
