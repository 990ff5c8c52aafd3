#!/usr/bin/env node
/**
 * What "sandboxes see their own size" costs (issue 11, item 4; runtime/proc-view.ts and
 * runtime/cgroup-view.ts): the runtime with and without it, in the same run, on the test rootfs
 * (the host's /usr hard-linked) with the daemon's warm pools. Prints, per mode:
 *   - launch → first output of `true` (sequential, each sandbox killed after), then the
 *     sandbox's first `cat /proc/meminfo` (lxcfs looks up its pid 1 once);
 *   - with 50 sandboxes live (each read its meminfo once): a create's time, lxcfs's RSS and fds,
 *     and the host's mounts per sandbox (every later create copies the host's mount table).
 * Run as root after `npm run build`: `node bench/proc-view-bench.mjs [--quick]`. Figures only.
 */
import { chmod, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BwrapRuntime } from "../packages/server/dist/runtime/bwrap-runtime.js";
import { detectCgroups } from "../packages/server/dist/runtime/cgroups.js";
import { sh } from "../packages/server/dist/runtime/runtime-test-helpers.js";
import { buildTestRootfs } from "../packages/server/dist/runtime/test-rootfs.js";
import { umount } from "../packages/server/dist/host/mounts.js";
import { summary, timeRuns } from "./stats.mjs";

const quick = process.argv.includes("--quick");
const N = quick ? 10 : 40;
const LIVE = quick ? 10 : 50;
const UID_BASE = 100000;
const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../packages/server/native/build");
const limits = { memoryBytes: 512 * 2 ** 20, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 };
const mountCount = async () => (await readFile("/proc/self/mountinfo", "utf8")).trim().split("\n").length;

/** A runtime of its own (state directory, cgroup parent) with or without the view. */
async function startRuntime(work, procView) {
  const mode = procView ? "on" : "off";
  const stateDir = path.join(work, `state-${mode}`);
  const runDir = path.join(stateDir, "run");
  const parent = `atoll-pvbench-${mode}-${process.pid}`;
  const runtime = new BwrapRuntime({ stateDir, runDir, uidBase: UID_BASE, nativeDir: NATIVE, cgroupParent: parent, procView });
  await runtime.cleanupOrphans(new Set());
  let seq = 0;
  const close = async () => {
    await runtime.cleanupOrphans(new Set());
    await runtime.close();
    await (await detectCgroups({ parent })).removeParent();
    await umount(runDir, { lazy: true });
  };
  return { runtime, runDir, mode, close, spec: (rootfs) => ({ id: `pvb-${mode}-${seq++}`, imageRootfs: rootfs, limits, mounts: [] }) };
}

const shown = (ms) => {
  const s = summary(ms);
  return `p50 ${s.p50} / p95 ${s.p95} ms`;
};

/** Creates, alternating between the two runtimes so both see the same background load. */
async function creates(rts, rootfs) {
  const out = Object.fromEntries(rts.map((r) => [r.mode, { create: [], firstRead: [] }]));
  for (let i = 0; i < N; i++) {
    for (const rt of rts) {
      await new Promise((r) => setTimeout(r, 200)); // the pools refill, as between a user's creates
      const t0 = performance.now();
      const sb = await rt.runtime.launch(rt.spec(rootfs));
      await sh(sb, "true");
      out[rt.mode].create.push(performance.now() - t0);
      const t1 = performance.now();
      await sh(sb, "cat /proc/meminfo > /dev/null");
      out[rt.mode].firstRead.push(performance.now() - t1);
      await sb.kill();
    }
  }
  return out;
}

/** LIVE sandboxes of one runtime at once: mounts they add, creates meanwhile, lxcfs's size. */
async function live(rt, rootfs) {
  const mountsBefore = await mountCount();
  const sandboxes = [];
  for (let i = 0; i < LIVE; i++) {
    const sb = await rt.runtime.launch(rt.spec(rootfs));
    await sh(sb, "cat /proc/meminfo /proc/uptime > /dev/null");
    sandboxes.push(sb);
  }
  const mountsPerSandbox = ((await mountCount()) - mountsBefore) / LIVE;
  const createMs = await timeRuns(quick ? 5 : 10, async () => {
    const sb = await rt.runtime.launch(rt.spec(rootfs));
    await sh(sb, "true");
    await sb.kill();
  });
  let lxcfs = {};
  if (rt.mode === "on") {
    const pid = Number.parseInt(await readFile(path.join(rt.runDir, "lxcfs.pid"), "utf8"), 10);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"))[1]);
    lxcfs = { lxcfsRssKiB: rss, lxcfsFds: (await readdir(`/proc/${pid}/fd`)).length };
  }
  await Promise.all(sandboxes.map((sb) => sb.kill()));
  return { [`create with ${LIVE} live`]: shown(createMs), mountsPerSandbox, ...lxcfs };
}

const work = await mkdtemp(path.join(tmpdir(), "atoll-pvbench-"));
await chmod(work, 0o755);
try {
  const rootfs = await buildTestRootfs(work, UID_BASE);
  const rts = [await startRuntime(work, false), await startRuntime(work, true)];
  let off, on;
  try {
    await new Promise((r) => setTimeout(r, 1000)); // let the pools fill
    const c = await creates(rts, rootfs);
    // Live sets one after the other (they share the host's mount table), off → on → on → off:
    // creates drift slower over a run, so each mode is measured early and late.
    const [off1, on1, on2, off2] = [await live(rts[0], rootfs), await live(rts[1], rootfs), await live(rts[1], rootfs), await live(rts[0], rootfs)];
    off = {
      create: shown(c.off.create),
      "first cat /proc/meminfo": shown(c.off.firstRead),
      ...off1,
      [`create with ${LIVE} live (again, later)`]: off2[`create with ${LIVE} live`],
    };
    on = {
      create: shown(c.on.create),
      "first cat /proc/meminfo": shown(c.on.firstRead),
      ...on2,
      [`create with ${LIVE} live`]: on1[`create with ${LIVE} live`],
      [`create with ${LIVE} live (again, later)`]: on2[`create with ${LIVE} live`],
    };
  } finally {
    for (const rt of rts) await rt.close();
  }
  const idleLxcfs = await (async () => {
    // lxcfs alone, before any sandbox: its baseline memory.
    const { spawnSync } = await import("node:child_process");
    const mnt = path.join(work, "lxcfs-idle");
    spawnSync("mkdir", ["-p", mnt]);
    const child = (await import("node:child_process")).spawn("lxcfs", ["--foreground", "--pidfile", path.join(work, "idle.pid"), mnt], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 1000));
    const rss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, "utf8"))[1]);
    await umount(mnt, { lazy: true });
    child.kill("SIGKILL");
    return rss;
  })();
  console.table({ "view off": off, "view on": on });
  console.log(
    `lxcfs RSS with no sandbox: ${idleLxcfs} KiB; with ${LIVE} live sandboxes: ${on.lxcfsRssKiB} KiB (${((on.lxcfsRssKiB - idleLxcfs) / LIVE).toFixed(1)} KiB per sandbox)`,
  );
  console.log(JSON.stringify({ bench: "proc-view", at: new Date().toISOString(), off, on, idleLxcfsRssKiB: idleLxcfs }));
} finally {
  await rm(work, { recursive: true, force: true });
}
