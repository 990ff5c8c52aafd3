/**
 * The base mount namespace (runtime/mount-base.ts, native/atoll-mntns.c, issue 16): a sandbox
 * starts from a copy of the host's namespace holding its own mounts only, never its neighbours',
 * and hot attach still reaches it through propagation.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { RuntimeSandbox, SandboxLimits } from "../core/drivers.js";
import { isMountPoint, umount } from "../host/mounts.js";
import { execFileRunner as runner } from "../host/run-command.js";
import type { BwrapRuntime } from "./bwrap-runtime.js";
import { detectCgroups } from "./cgroups.js";
import { TEST_UID_BASE, sh, unpooledRuntime } from "./runtime-test-helpers.js";
import { buildTestRootfs } from "./test-rootfs.js";

const CGROUP_PARENT = `atoll-mntns-itest-${process.pid}`;
const LIMITS: SandboxLimits = { memoryBytes: 256 * 2 ** 20, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 };

/** The mount table of the launcher (bwrap's outer process, the shim's child) of sandbox `id`. */
function launcherMounts(stateDir: string, id: string): string {
  const { shimPid } = JSON.parse(readFileSync(path.join(stateDir, "shims", `${id}.json`), "utf8")) as { shimPid: number };
  const child = readFileSync(`/proc/${shimPid}/task/${shimPid}/children`, "utf8").trim().split(/\s+/)[0];
  assert.ok(child, `shim ${shimPid} has a child`);
  return readFileSync(`/proc/${child}/mountinfo`, "utf8");
}

describe("base mount namespace (real host)", () => {
  let work: string;
  let stateDir: string;
  let runDir: string;
  let rootfs: string;
  let runtime: BwrapRuntime;
  let a: RuntimeSandbox;
  let b: RuntimeSandbox;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), "atoll-mntns-"));
    await chmod(work, 0o755);
    stateDir = path.join(work, "state");
    runDir = path.join(stateDir, "run");
    rootfs = await buildTestRootfs(work, TEST_UID_BASE);
    runtime = unpooledRuntime(stateDir, CGROUP_PARENT);
    a = await runtime.launch({ id: "mntns-a", imageRootfs: rootfs, limits: LIMITS, mounts: [] });
    b = await runtime.launch({ id: "mntns-b", imageRootfs: rootfs, limits: LIMITS, mounts: [] });
  });

  after(async () => {
    await a?.kill();
    await b?.kill();
    await runtime.cleanupOrphans(new Set());
    await runtime.close();
    await (await detectCgroups({ parent: CGROUP_PARENT })).removeParent();
    await umount(runner, runDir, { lazy: true });
    await rm(work, { recursive: true, force: true });
  });

  it("starts each sandbox from a namespace holding its own root, not its neighbour's", () => {
    const host = readFileSync("/proc/self/mountinfo", "utf8");
    // The probe works outside the defence: the daemon's namespace has both roots.
    assert.match(host, /\/sandboxes\/mntns-a\/root /);
    assert.match(host, /\/sandboxes\/mntns-b\/root /);
    const seenByB = launcherMounts(stateDir, "mntns-b");
    assert.match(seenByB, /\/sandboxes\/mntns-b\/root /);
    assert.doesNotMatch(seenByB, /\/sandboxes\/mntns-a\//);
    const seenByA = launcherMounts(stateDir, "mntns-a");
    assert.doesNotMatch(seenByA, /\/sandboxes\/mntns-b\//);
  });

  it("pins a base that holds none of the run directory's mounts", () => {
    const base = execFileSync("nsenter", [`--mount=${path.join(runDir, "mntns-base")}`, "cat", "/proc/self/mountinfo"], { encoding: "utf8" });
    const under = base.split("\n").filter((l) => l.split(" ")[4]?.startsWith(`${runDir}/`));
    assert.deepEqual(under, []);
    assert.match(base, new RegExp(` ${runDir} `), "the run directory itself stays (its directories are the attach points)");
  });

  it("keeps no loop-backed or overlay filesystem of anyone mounted in the base", () => {
    const pinning = (table: string) =>
      table.split("\n").filter((l) => {
        const [fsType, source] = l.split(" - ")[1]?.split(" ") ?? [];
        return fsType === "overlay" || source?.startsWith("/dev/loop");
      });
    // The probe works outside the defence: the host has this test's own scratches and overlays.
    assert.ok(pinning(readFileSync("/proc/self/mountinfo", "utf8")).length >= 4);
    const base = execFileSync("nsenter", [`--mount=${path.join(runDir, "mntns-base")}`, "cat", "/proc/self/mountinfo"], { encoding: "utf8" });
    assert.deepEqual(pinning(base), []);
  });

  it("hot attach and detach still reach a sandbox started from the base", async () => {
    const vol = path.join(work, "vol-hot");
    await mkdir(vol);
    await writeFile(path.join(vol, "hello.txt"), "hot\n");
    await chown(vol, TEST_UID_BASE + 1000, TEST_UID_BASE + 1000);
    await b.attachMount({ source: vol, target: "/data/hot", readOnly: false });
    assert.equal((await sh(b, "cat /data/hot/hello.txt")).out, "hot\n");
    await b.detachMount("/data/hot");
    assert.equal((await sh(b, "test -e /data/hot/hello.txt && echo still || echo gone")).out, "gone\n");
  });

  it("unpins the base when the runtime closes", async () => {
    const pin = path.join(runDir, "mntns-base");
    assert.equal(await isMountPoint(pin), true);
    await a.kill();
    await b.kill();
    await runtime.close();
    assert.equal(await isMountPoint(pin), false);
  });
});
