import assert from "node:assert/strict";
import { test } from "node:test";
import { type LaunchArgs, launchArgs } from "./bwrap-args.js";

const BASE: LaunchArgs = { uidBase: 100000, cgroupProcs: [], bwrap: "bwrap", root: "/r", init: "/i", hostname: "h", masks: [] };

/** The launcher's own options: everything before the first `--`. */
const launcherOptions = (a: LaunchArgs) => launchArgs(a).slice(0, launchArgs(a).indexOf("--"));

test("cgroup v1: the launcher joins each controller's cgroup.procs; v2: it forks into the cgroup directory", () => {
  const v1 = launcherOptions({ ...BASE, cgroupProcs: ["/sys/fs/cgroup/memory/a/x/cgroup.procs", "/sys/fs/cgroup/pids/a/x/cgroup.procs"] });
  assert.deepEqual(v1, [
    "--uid-base",
    "100000",
    "--cgroup-procs",
    "/sys/fs/cgroup/memory/a/x/cgroup.procs",
    "--cgroup-procs",
    "/sys/fs/cgroup/pids/a/x/cgroup.procs",
  ]);
  const v2 = launcherOptions({ ...BASE, cgroupDir: "/sys/fs/cgroup/a/x" });
  assert.deepEqual(v2, ["--uid-base", "100000", "--cgroup-dir", "/sys/fs/cgroup/a/x"]);
  // bwrap still makes the cgroup namespace, rooted where the launcher's child runs: the sandbox's cgroup.
  assert.ok(launchArgs({ ...BASE, cgroupDir: "/sys/fs/cgroup/a/x" }).includes("--unshare-cgroup"));
});

test("the base mount namespace options go to the launcher, never to bwrap", () => {
  const mountBase = ["--mount-base", "/s/run/mntns-base", "--attach-tree", "/r"];
  assert.deepEqual(launcherOptions({ ...BASE, mountBase }), ["--uid-base", "100000", ...mountBase]);
  assert.ok(!launchArgs({ ...BASE }).includes("--mount-base"));
});
