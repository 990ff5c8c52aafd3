/**
 * Integration tests of the bubblewrap runtime on the real host (root, bwrap, loop devices,
 * cgroups). Run: `make -s -C packages/server/native && npx tsc -b packages/server &&
 * node --test packages/server/dist/runtime/bwrap-runtime.itest.js`
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { InvalidArgumentError } from "atoll/contract";
import type { LaunchSpec, ProcessHandle, RuntimeSandbox, SandboxLimits } from "../core/drivers.js";
import { listLoopDevices } from "../host/loop-device.js";
import { mountsUnder, readMountInfo, umount } from "../host/mounts.js";
import { execFileRunner as runner } from "../host/run-command.js";
import { BwrapRuntime } from "./bwrap-runtime.js";
import { cpuSharesFromWeight } from "./cgroup-files.js";
import type { V1SandboxCgroup } from "./cgroup-v1.js";
import { V2SandboxCgroup } from "./cgroup-v2.js";
import { detectCgroups } from "./cgroups.js";
import { TEST_NATIVE_DIR, TEST_UID_BASE, alive, p50, run, sh, unpooledRuntime } from "./runtime-test-helpers.js";
import { buildTestRootfs } from "./test-rootfs.js";

const UID_BASE = TEST_UID_BASE;
const NATIVE = TEST_NATIVE_DIR;
const CGROUP_PARENT = `atoll-itest-${process.pid}`;
const LIMITS: SandboxLimits = { memoryBytes: 256 * 2 ** 20, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 };

describe("bwrap runtime (real host)", () => {
  let work: string;
  let stateDir: string;
  let runDir: string;
  let rootfs: string;
  let runtime: BwrapRuntime;
  const vol = { ro: "", rw: "", hot: "" };
  const spec = (id: string, extra: Partial<LaunchSpec> = {}): LaunchSpec => ({ id, imageRootfs: rootfs, limits: LIMITS, mounts: [], ...extra });

  before(async () => {
    await runner.run("make", ["-s", "-C", path.dirname(NATIVE)]);
    work = await mkdtemp(path.join(tmpdir(), "atoll-rt-"));
    await chmod(work, 0o755); // sandbox root (an unprivileged host uid) must reach the roots below
    stateDir = path.join(work, "state");
    runDir = path.join(stateDir, "run");
    rootfs = await buildTestRootfs(work, UID_BASE);
    for (const k of ["ro", "rw", "hot"] as const) {
      vol[k] = path.join(work, `vol-${k}`);
      await mkdir(vol[k]);
      await writeFile(path.join(vol[k], "hello.txt"), `volume ${k}\n`);
      await chown(vol[k], UID_BASE + 1000, UID_BASE + 1000);
    }
    // No warm pools here: the orphan-cleanup test runs a second runtime on the same state
    // directory and cgroup parent, which reaps this one's pool entries while it may be refilling
    // them (never so in a daemon: one runtime per state directory). The daemon-level tests
    // (e2e/) create every sandbox through the pools.
    runtime = unpooledRuntime(stateDir, CGROUP_PARENT);
  });

  after(async () => {
    await runtime.cleanupOrphans(new Set());
    await runtime.close();
    const cg = await detectCgroups({ parent: CGROUP_PARENT });
    await cg.removeParent();
    await umount(runner, runDir, { lazy: true });
    await rm(work, { recursive: true, force: true });
  });

  describe("one sandbox", () => {
    let sb: RuntimeSandbox;
    before(async () => {
      sb = await runtime.launch(
        spec("itest-main", {
          mounts: [
            { source: vol.ro, target: "/data/ro", readOnly: true },
            { source: vol.rw, target: "/data/rw", readOnly: false },
          ],
        }),
      );
    });
    after(() => sb.kill());

    it("round-trips stdout, stderr and the exit code", async () => {
      const r = await sh(sb, "echo out; echo err >&2; exit 7");
      assert.deepEqual(r.exit, { code: 7, signal: null, oom: false });
      assert.equal(r.out, "out\n");
      assert.equal(r.err, "err\n");
      assert.ok(r.pid! > 1);
    });

    it("feeds stdin", async () => {
      const big = Buffer.alloc(1024 * 1024, "x");
      const r = await run(sb, ["wc", "-c"], { stdin: big });
      assert.equal(r.out.trim(), String(big.byteLength));
      assert.equal((await run(sb, ["cat"], { stdin: "hello" })).out, "hello");
    });

    it("never blocks on a process that does not read its stdin", async () => {
      const stuck = run(sb, ["sleep", "2"], { stdin: Buffer.alloc(4 * 1024 * 1024) });
      const r = await sh(sb, "echo still-responsive");
      assert.equal(r.out, "still-responsive\n");
      assert.equal((await stuck).exit?.code, 0);
    });

    it("reports spawn failures", async () => {
      const r = await run(sb, ["no-such-command"]);
      assert.equal(r.spawnError?.errno, 2);
      assert.match(r.spawnError!.message, /no-such-command/);
      const c = await run(sb, ["true"], { cwd: "/no/such/dir" });
      assert.match(c.spawnError!.message, /change directory/);
    });

    it("delivers signals to the process group", async () => {
      const r = await run(sb, ["sh", "-c", "sleep 30; echo not-reached"], { onStarted: (h) => setTimeout(() => h.signal("SIGTERM"), 50) });
      assert.deepEqual(r.exit, { code: null, signal: "SIGTERM", oom: false });
      assert.equal(r.out, "");
    });

    it("returns when the command exits even if a background process holds its pipes, and keeps that process", async () => {
      const r = await sh(sb, "sleep 31 & echo started");
      assert.equal(r.exit?.code, 0);
      assert.equal(r.out, "started\n");
      const ps = await run(sb, ["ps", "-eo", "args"]);
      assert.match(ps.out, /sleep 31/);
      assert.match(ps.out, /\/\.atoll\/init/);
    });

    it("runs app as uid 1000 and root as uid 0, with a restricted capability set", async () => {
      assert.equal((await run(sb, ["id", "-u"])).out, "1000\n");
      assert.equal((await run(sb, ["id", "-g"])).out, "1000\n");
      assert.equal((await run(sb, ["id", "-u"], { user: "root" })).out, "0\n");
      const caps = await sh(sb, "grep -E '^Cap(Eff|Bnd)' /proc/self/status", "root");
      assert.match(caps.out, /CapEff:\t00000000a00405fb/);
      assert.match((await sh(sb, "grep CapEff /proc/self/status")).out, /CapEff:\t0000000000000000/);
    });

    it("denies mount and unshare to sandbox root", async () => {
      const m = await sh(sb, "mount -t tmpfs x /mnt", "root");
      assert.notEqual(m.exit?.code, 0);
      const u = await sh(sb, "unshare -U true", "root");
      assert.notEqual(u.exit?.code, 0);
      assert.match(u.err, /Operation not permitted/);
      const n = await sh(sb, "unshare -n true", "root");
      assert.notEqual(n.exit?.code, 0);
    });

    it("keeps read-only mounts read-only, also for root", async () => {
      assert.equal((await run(sb, ["cat", "/data/ro/hello.txt"])).out, "volume ro\n");
      const w = await sh(sb, "echo x > /data/ro/new", "root");
      assert.notEqual(w.exit?.code, 0);
      assert.match(w.err, /Read-only file system/);
      const remount = await sh(sb, "mount -o remount,rw /data/ro", "root");
      assert.notEqual(remount.exit?.code, 0);
      const remount2 = await sh(sb, "mount -o remount,bind,rw /data/ro", "root");
      assert.notEqual(remount2.exit?.code, 0);
      const still = await sh(sb, "touch /data/ro/new", "root");
      assert.notEqual(still.exit?.code, 0);
      const umountTry = await sh(sb, "umount /data/ro", "root");
      assert.notEqual(umountTry.exit?.code, 0);
      // read-write mounts are writable by app
      assert.equal((await sh(sb, "echo hi > /data/rw/by-app && cat /data/rw/by-app")).out, "hi\n");
      assert.equal((await stat(path.join(vol.rw, "by-app"))).uid, UID_BASE + 1000);
    });

    it("applies the seccomp profile (personality, x32 and i386 ABIs)", async () => {
      const src = path.join(work, "abi.c");
      await writeFile(
        src,
        `#include <stdio.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/personality.h>
int main(int argc, char **argv) {
  (void)argc;
  if (argv[1][0] == 'p') {
    int a = personality(0x0040000); int ea = errno;
    int q = personality(0xffffffff);
    printf("norandom=%d/%d query=%d\\n", a, ea, q >= 0);
  } else if (argv[1][0] == 'x') {
    long r = syscall(0x40000000 | SYS_getpid); printf("x32=%ld\\n", r);
  } else {
    long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(20)); printf("i386=%ld\\n", r);
  }
  return 0;
}
`,
      );
      // /opt of the rootfs copy is visible in every new overlay; this one is already mounted,
      // so put the binary on the read-write volume instead.
      await runner.run("gcc", ["-static", "-O1", "-o", path.join(vol.rw, "abi"), src]);
      const p = await run(sb, ["/data/rw/abi", "p"]);
      assert.equal(p.out, "norandom=-1/1 query=1\n");
      assert.equal((await run(sb, ["/data/rw/abi", "x"])).exit?.signal, "SIGSYS");
      assert.equal((await run(sb, ["/data/rw/abi", "i"])).exit?.signal, "SIGSYS");
    });

    it("masks /proc paths", async () => {
      const files = ["timer_list", "keys", "kcore", "sched_debug"].filter((f) => existsSync(`/proc/${f}`));
      for (const f of files) assert.equal((await sh(sb, `wc -c < /proc/${f}`, "root")).out, "0\n", f);
      if (existsSync("/proc/acpi")) assert.equal((await sh(sb, "ls -A /proc/acpi | wc -l", "root")).out, "0\n");
      const sys = await sh(sb, "echo 1 > /proc/sys/kernel/ns_last_pid", "root");
      assert.notEqual(sys.exit?.code, 0);
    });

    it("hot-attaches and detaches a volume, and reports processes that keep it busy", async () => {
      await sb.attachMount({ source: vol.hot, target: "/hot", readOnly: false });
      assert.equal((await run(sb, ["cat", "/hot/hello.txt"])).out, "volume hot\n");
      let holder: ProcessHandle | undefined;
      const held = run(sb, ["sh", "-c", "exec 3</hot/hello.txt; cd /hot && sleep 30"], { onStarted: (h) => (holder = h) });
      // Until the shell has exec'd sleep (before that the child is still called "sh").
      let busy = await sb.busyProcesses("/hot");
      for (let i = 0; i < 100 && !busy.some((b) => b.command === "sleep"); i++) {
        await sleep(20);
        busy = await sb.busyProcesses("/hot");
      }
      assert.ok(
        busy.some((b) => b.path === "/hot" && b.command === "sleep"),
        JSON.stringify(busy),
      );
      assert.ok(
        busy.some((b) => b.path === "/hot/hello.txt"),
        JSON.stringify(busy),
      );
      assert.ok(busy.every((b) => b.pid > 1 && b.pid < 100000));
      assert.deepEqual(await sb.busyProcesses("/data/ro"), []);
      holder!.signal("SIGKILL");
      assert.equal((await held).exit?.signal, "SIGKILL");
      await sb.detachMount("/hot");
      assert.equal((await sh(sb, "ls -A /hot | wc -l")).out, "0\n");
      assert.equal((await sh(sb, "grep -c ' /hot ' /proc/self/mountinfo")).out, "0\n");
      await assert.rejects(sb.detachMount("/hot"));
    });

    it("refuses mount points that are symlinks planted by the sandbox", async () => {
      const r = await sh(sb, "ln -s /etc /evil && ln -s ../../etc /mnt/up && mkdir -p /home/app/real", "root");
      assert.equal(r.exit?.code, 0, r.err);
      await assert.rejects(sb.attachMount({ source: vol.hot, target: "/evil/x", readOnly: true }), InvalidArgumentError);
      await assert.rejects(sb.attachMount({ source: vol.hot, target: "/mnt/up", readOnly: true }), InvalidArgumentError);
      await assert.rejects(sb.attachMount({ source: vol.hot, target: "/mnt/../etc", readOnly: true }), InvalidArgumentError);
      assert.equal((await sh(sb, "grep -c ' /etc' /proc/self/mountinfo")).out, "0\n");
    });

    it("reports stats", async () => {
      const s = await sb.stats();
      assert.ok(s.memoryBytes > 0 && s.pids >= 2 && s.cpuUsageNs > 0, JSON.stringify(s));
    });
  });

  it("puts every process of the sandbox under its memory, pids and cpu weight limits", async () => {
    const limits = { ...LIMITS, memoryBytes: 96 * 2 ** 20, pids: 77, cpuWeight: 250 };
    const sb = await runtime.launch(spec("itest-limits", { limits }));
    try {
      await sh(sb, "sleep 100 & sleep 100 &");
      const cg = (await detectCgroups({ parent: CGROUP_PARENT })).open("itest-limits");
      const [memory, pids, cpu, want] =
        cg instanceof V2SandboxCgroup
          ? [`${cg.dir}/memory.max`, `${cg.dir}/pids.max`, `${cg.dir}/cpu.weight`, limits.cpuWeight]
          : [
              `${(cg as V1SandboxCgroup).memoryDir}/memory.limit_in_bytes`,
              `${(cg as V1SandboxCgroup).pidsDir}/pids.max`,
              `${(cg as V1SandboxCgroup).cpuDir}/cpu.shares`,
              cpuSharesFromWeight(limits.cpuWeight),
            ];
      assert.equal(Number(await readFile(memory, "utf8")), limits.memoryBytes);
      assert.equal(Number(await readFile(pids, "utf8")), limits.pids);
      assert.equal(Number(await readFile(cpu, "utf8")), want);
      // The commands started through the sandbox run in its cgroup, with init.
      const names = await Promise.all(
        (await cg.pids()).map((pid) =>
          readFile(`/proc/${pid}/comm`, "utf8").then(
            (c) => c.trim(),
            () => "",
          ),
        ),
      );
      assert.equal(names.filter((n) => n === "sleep").length, 2, names.join(" "));
      assert.ok(names.includes("init"), names.join(" "));
    } finally {
      await sb.kill();
    }
  });

  it("reports oom: true when the memory limit kills a process", async () => {
    const sb = await runtime.launch(spec("itest-oom", { limits: { ...LIMITS, memoryBytes: 64 * 2 ** 20 } }));
    try {
      const r = await sh(sb, "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo survived");
      assert.deepEqual(r.exit, { code: null, signal: "SIGKILL", oom: true });
      const k = await run(sb, ["sh", "-c", "sleep 30"], { onStarted: (h) => h.signal("SIGKILL") });
      assert.deepEqual(k.exit, { code: null, signal: "SIGKILL", oom: false });
    } finally {
      await sb.kill();
    }
  });

  it("contains a fork bomb with the pids limit", async () => {
    const sb = await runtime.launch(spec("itest-bomb", { limits: { ...LIMITS, pids: 64 } }));
    try {
      await sh(sb, "bomb() { bomb | bomb & }; bomb");
      await sleep(1000);
      const s = await sb.stats();
      assert.ok(s.pids <= 64, `pids ${s.pids}`);
    } finally {
      await sb.kill();
    }
    assert.deepEqual(await sb.stopped, { reason: "killed" });
  });

  it("kill() leaves no cgroup, mount, loop device or process behind, and is idempotent", async () => {
    const sb = await runtime.launch(spec("itest-kill", { mounts: [{ source: vol.ro, target: "/v", readOnly: true }] }));
    await sh(sb, "sleep 100 & sleep 100 &");
    const cg = (await detectCgroups({ parent: CGROUP_PARENT })).open("itest-kill");
    const pids = await cg.pids();
    assert.ok(pids.length >= 3);
    await Promise.all([sb.kill(), sb.kill()]);
    await sb.kill();
    assert.deepEqual(await sb.stopped, { reason: "killed" });
    assert.ok(!(await (await detectCgroups({ parent: CGROUP_PARENT })).list()).includes("itest-kill"));
    assert.deepEqual(mountsUnder(await readMountInfo(), path.join(runDir, "sandboxes")), []);
    const ownLoops = (await listLoopDevices()).filter((d) => d.backingFile.startsWith(stateDir) && !path.basename(d.backingFile).startsWith("pool-"));
    assert.deepEqual(ownLoops, [], "only the warm pool keeps loop devices");
    assert.deepEqual(pids.filter(alive), []);
    assert.ok(!(await readdir(path.join(runDir, "sandboxes"))).includes("itest-kill"));
    assert.ok(!(await readdir(path.join(stateDir, "scratch"))).includes("itest-kill.img"));
    // spawning on a dead sandbox fails cleanly
    const r = await run(sb, ["true"]);
    assert.ok(r.spawnError);
  });

  it("stops and cleans up when init dies on its own", async () => {
    const sb = await runtime.launch(spec("itest-crash"));
    const cg = (await detectCgroups({ parent: CGROUP_PARENT })).open("itest-crash");
    for (const pid of await cg.pids()) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmd.startsWith("/.atoll/init")) process.kill(pid, "SIGKILL");
    }
    assert.deepEqual(await sb.stopped, { reason: "init-exited" });
    await sb.kill();
    assert.deepEqual(mountsUnder(await readMountInfo(), path.join(runDir, "sandboxes", "itest-crash")), []);
  });

  it("cleanupOrphans removes sandboxes it does not know", async () => {
    const sb = await runtime.launch(spec("itest-orphan"));
    const other = new BwrapRuntime({ stateDir, runDir, uidBase: UID_BASE, nativeDir: NATIVE, runner, cgroupParent: CGROUP_PARENT, scratchPoolSize: 0 });
    const removed = await other.cleanupOrphans(new Set(["itest-keep"]));
    assert.ok(removed.includes("itest-orphan"), removed.join(","));
    assert.deepEqual(await sb.stopped, { reason: "init-exited" });
    assert.deepEqual(mountsUnder(await readMountInfo(), path.join(runDir, "sandboxes")), []);
    assert.deepEqual(
      (await listLoopDevices()).filter((d) => d.backingFile.startsWith(stateDir)),
      [],
    );
  });

  it("fails a launch cleanly and leaves nothing behind", async () => {
    await assert.rejects(runtime.launch(spec("itest-bad", { imageRootfs: path.join(work, "no-such-rootfs") })));
    await assert.rejects(runtime.launch(spec("itest-bad2", { mounts: [{ source: path.join(work, "missing"), target: "/m", readOnly: true }] })));
    assert.deepEqual(mountsUnder(await readMountInfo(), path.join(runDir, "sandboxes")), []);
    assert.deepEqual(await readdir(path.join(runDir, "sandboxes")), []);
    const cgs = await (await detectCgroups({ parent: CGROUP_PARENT })).list();
    assert.ok(!cgs.includes("itest-bad") && !cgs.includes("itest-bad2"));
  });

  it("measures launch-to-READY and spawn round trip (30 runs each)", async () => {
    const launches: number[] = [];
    const kills: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const sb = await runtime.launch(spec(`itest-bench-${i}`));
      launches.push(performance.now() - t0);
      const t1 = performance.now();
      await sb.kill();
      kills.push(performance.now() - t1);
    }
    const sb = await runtime.launch(spec("itest-bench-spawn"));
    const spawns: number[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        const r = await run(sb, ["/bin/true"]);
        spawns.push(performance.now() - t0);
        assert.equal(r.exit?.code, 0);
      }
    } finally {
      await sb.kill();
    }
    const fmt = (v: number) => `${v.toFixed(1)} ms`;
    console.log(`launch-to-READY p50 ${fmt(p50(launches))} (min ${fmt(Math.min(...launches))}, max ${fmt(Math.max(...launches))})`);
    console.log(`kill p50 ${fmt(p50(kills))}`);
    console.log(`spawn /bin/true round trip p50 ${fmt(p50(spawns))} (min ${fmt(Math.min(...spawns))}, max ${fmt(Math.max(...spawns))})`);
  });
});
