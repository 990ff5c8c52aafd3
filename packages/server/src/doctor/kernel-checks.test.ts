import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProbeRun } from "./host-probes.js";
import { judgeKernel, judgeLoop, judgeOverlay, judgePidfd, judgeRoot, judgeSeccomp, judgeUserns } from "./kernel-checks.js";

const ran: ProbeRun = { ok: true, stdout: "", stderr: "" };
const failed = (error: string): ProbeRun => ({ ok: false, error, stdout: "", stderr: error });

test("root: only uid 0 can run the daemon", () => {
  assert.equal(judgeRoot(0).status, "ok");
  const v = judgeRoot(1000);
  assert.equal(v.status, "fail");
  assert.match(v.fix!, /run as root/);
});

test("user namespaces: max 0 fails with the sysctl, and so do each kind of creation that fails", () => {
  const good = { max: 96362, privileged: ran, unprivileged: ran, unprivilegedClone: undefined };
  assert.equal(judgeUserns(good).status, "ok");
  assert.match(judgeUserns(good).detail, /96362/);

  const none = judgeUserns({ ...good, max: 0 });
  assert.equal(none.status, "fail");
  assert.match(none.fix!, /sysctl -w user\.max_user_namespaces=15000/);
  assert.match(none.fix!, /\/etc\/sysctl\.d\//);

  const noRoot = judgeUserns({ ...good, privileged: failed("unshare failed: Operation not permitted") });
  assert.equal(noRoot.status, "fail");
  assert.match(noRoot.fix!, /CONFIG_USER_NS/);

  // Debian kernels before 11 forbade unprivileged ones with their own sysctl.
  const debian = judgeUserns({ ...good, unprivileged: failed("unshare failed: Operation not permitted"), unprivilegedClone: 0 });
  assert.equal(debian.status, "fail");
  assert.match(debian.detail, /unprivileged user/);
  assert.match(debian.fix!, /sysctl -w kernel\.unprivileged_userns_clone=1/);
  const other = judgeUserns({ ...good, unprivileged: failed("unshare failed: Operation not permitted") });
  assert.doesNotMatch(other.fix!, /sysctl -w/);
});

test("overlayfs: a missing filesystem type names the module and the kernel option", () => {
  assert.equal(judgeOverlay(ran).status, "ok");
  const missing = judgeOverlay(failed("mount: /tmp/x/m: unknown filesystem type 'overlay'."));
  assert.equal(missing.status, "fail");
  assert.match(missing.fix!, /modprobe overlay/);
  assert.match(missing.fix!, /CONFIG_OVERLAY_FS/);
  const old = judgeOverlay(failed("mount: /tmp/x/m: wrong fs type, bad option"));
  assert.match(old.fix!, /5\.10/);
});

test("loop devices: no loop-control, or no free device, fail with modprobe loop", () => {
  assert.equal(
    judgeLoop({ control: true, find: { ok: true, stdout: "/dev/loop3\n", stderr: "" } }).detail,
    "/dev/loop-control answers (next free: /dev/loop3)",
  );
  const none = judgeLoop({ control: false, find: failed("skipped") });
  assert.equal(none.status, "fail");
  assert.match(none.detail, /no \/dev\/loop-control/);
  assert.match(none.fix!, /modprobe loop/);
  const busy = judgeLoop({ control: true, find: failed("losetup: cannot find an unused loop device") });
  assert.equal(busy.status, "fail");
  assert.match(busy.detail, /cannot find an unused loop device/);
  assert.match(judgeLoop({ control: true, find: failed("not found") }).fix!, /apt-get install util-linux/);
});

test("seccomp: needs the Seccomp line and the actions the profile uses", () => {
  const status = "Name:\tnode\nSeccomp:\t0\nSeccomp_filters:\t0\n";
  assert.equal(judgeSeccomp(status, "kill_process kill_thread trap errno user_notif trace log allow\n").status, "ok");
  assert.equal(judgeSeccomp("Name:\tnode\n", undefined).status, "fail");
  const old = judgeSeccomp(status, "kill trap errno trace allow");
  assert.equal(old.status, "fail");
  assert.match(old.detail, /kill_process/);
});

test("pidfd: a warning when it does not work, skipped without the helper", () => {
  assert.equal(judgePidfd(ran).status, "ok");
  assert.equal(judgePidfd(undefined).status, "skip");
  const v = judgePidfd(failed("pidfd_open: Function not implemented"));
  assert.equal(v.status, "warn");
  assert.match(v.fix!, /5\.3/);
});

test("kernel: informational, a warning below 5.10", () => {
  assert.deepEqual(judgeKernel("6.1.0-18-amd64", "x86_64"), { status: "ok", detail: "Linux 6.1.0-18-amd64 x86_64" });
  assert.equal(judgeKernel("5.4.0-150-generic", "x86_64").status, "warn");
  assert.equal(judgeKernel("5.10.0", "aarch64").status, "ok");
});
