/**
 * Kernel features the daemon needs (docs/operations.md, "atoll doctor"): root, user namespaces,
 * overlayfs, loop devices, seccomp, pidfd. Each probe does the thing (creates a namespace, mounts
 * an overlay in a throwaway mount namespace, asks loop-control for a device) or reads the
 * kernel's own answer (/proc/sys); each judge is pure.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { machine, release, tmpdir } from "node:os";
import { join } from "node:path";
import { RESERVED_ID_COUNT } from "../host/uid-range.js";
import { type Check, type Verdict, fail, ok, skip, warn } from "./check-types.js";
import { findTool } from "../host/find-tool.js";
import { type ProbeRun, readSysctl, readText, runProbe } from "./host-probes.js";

/** A sysctl set now and kept across reboots. */
export function sysctlFix(name: string, value: number): string {
  return `sysctl -w ${name}=${value} (and keep it: echo ${name}=${value} > /etc/sysctl.d/60-atoll.conf)`;
}

export function judgeRoot(uid: number): Verdict {
  return uid === 0 ? ok("running as root") : fail(`running as uid ${uid}`, "run as root (sudo): the daemon makes namespaces, mounts, loop devices and cgroups");
}

/** What the host said about user namespaces. */
export interface UsernsFacts {
  /** user.max_user_namespaces (undefined: not readable). */
  max: number | undefined;
  /** Root created one (`unshare --user`). */
  privileged: ProbeRun;
  /** A sandbox namespace owner (an unprivileged host uid) created one, as atoll-launch's helper does. */
  unprivileged: ProbeRun;
  /** Debian's kernel.unprivileged_userns_clone, when the kernel has it. */
  unprivilegedClone: number | undefined;
}

export function judgeUserns(f: UsernsFacts): Verdict {
  if (f.max === 0) return fail("user.max_user_namespaces is 0: no user namespaces at all", sysctlFix("user.max_user_namespaces", 15000));
  if (!f.privileged.ok)
    return fail(
      `root cannot create a user namespace: ${f.privileged.error}`,
      "the kernel needs CONFIG_USER_NS=y; in a container, run it with user namespaces allowed (e.g. a privileged container)",
    );
  if (!f.unprivileged.ok) {
    const fix =
      f.unprivilegedClone === 0
        ? sysctlFix("kernel.unprivileged_userns_clone", 1)
        : "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1 on Debian kernels; no seccomp or LSM rule may forbid unshare(CLONE_NEWUSER))";
    return fail(`an unprivileged user cannot create a user namespace (each sandbox's namespace is owned by one): ${f.unprivileged.error}`, fix);
  }
  return ok(`root and unprivileged users can create them${f.max !== undefined ? ` (max_user_namespaces ${f.max})` : ""}`);
}

async function probeUserns(searchPath: string, ownerUid: number): Promise<UsernsFacts> {
  const [privileged, unprivileged] = await Promise.all([
    runProbe("unshare", ["--user", "--map-root-user", "true"], { searchPath }),
    runProbe("unshare", ["--user", "true"], { searchPath, uid: ownerUid }),
  ]);
  return { max: readSysctl("user.max_user_namespaces"), privileged, unprivileged, unprivilegedClone: readSysctl("kernel.unprivileged_userns_clone") };
}

export function judgeOverlay(mounted: ProbeRun): Verdict {
  if (mounted.ok) return ok("an overlay with upper and work directories (volatile) mounts");
  if (/unknown filesystem type/i.test(mounted.error))
    return fail(
      "the kernel has no overlay filesystem",
      "modprobe overlay (and add overlay to /etc/modules-load.d/atoll.conf); the kernel needs CONFIG_OVERLAY_FS",
    );
  if (/not found/.test(mounted.error)) return fail(`cannot test: ${mounted.error}`, "apt-get install util-linux");
  return fail(`an overlay does not mount: ${mounted.error}`, "the kernel needs overlayfs with the volatile option (Linux 5.10 or newer)");
}

/**
 * Mounts a tmpfs and an overlay on it (the sandbox root's shape: upper and work on another
 * filesystem, `volatile`) in a throwaway mount namespace: nothing is left on the host.
 */
async function probeOverlay(searchPath: string): Promise<ProbeRun> {
  const dir = mkdtempSync(join(tmpdir(), "atoll-doctor-"));
  try {
    const script =
      'mount -t tmpfs atoll-doctor "$1" && mkdir "$1/l" "$1/u" "$1/w" "$1/m" && mount -t overlay atoll-doctor -o "lowerdir=$1/l,upperdir=$1/u,workdir=$1/w,volatile" "$1/m"';
    return await runProbe("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", dir], { searchPath });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the host said about loop devices. */
export interface LoopFacts {
  /** /dev/loop-control is a character device. */
  control: boolean;
  /** `losetup --find`: the kernel's next free device. */
  find: ProbeRun;
}

export function judgeLoop(f: LoopFacts): Verdict {
  const fix = "modprobe loop (the kernel needs CONFIG_BLK_DEV_LOOP); in a container, give it /dev/loop-control and the /dev/loop* devices";
  if (!f.control) return fail("no /dev/loop-control", fix);
  if (!f.find.ok) return fail(`no free loop device: ${f.find.error}`, f.find.error === "not found" ? "apt-get install util-linux" : fix);
  return ok(`/dev/loop-control answers (next free: ${f.find.stdout.trim()})`);
}

async function probeLoop(searchPath: string): Promise<LoopFacts> {
  let control = false;
  try {
    control = statSync("/dev/loop-control").isCharacterDevice();
  } catch {
    control = false;
  }
  return { control, find: control ? await runProbe("losetup", ["--find"], { searchPath }) : { ok: false, error: "skipped", stdout: "", stderr: "" } };
}

/** The seccomp actions the sandbox profile uses (native/launch-seccomp.c). */
export const SECCOMP_ACTIONS = ["allow", "errno", "kill_process"] as const;

/** `status`: the text of /proc/self/status; `actions`: /proc/sys/kernel/seccomp/actions_avail. */
export function judgeSeccomp(status: string | undefined, actions: string | undefined): Verdict {
  const fix = "the kernel needs CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y";
  if (!status || !/^Seccomp:/m.test(status)) return fail("the kernel has no seccomp", fix);
  if (actions === undefined) return fail("the kernel does not list its seccomp filter actions (/proc/sys/kernel/seccomp/actions_avail)", fix);
  const have = actions.trim().split(/\s+/);
  const missing = SECCOMP_ACTIONS.filter((a) => !have.includes(a));
  if (missing.length > 0) return fail(`seccomp filters lack the actions ${missing.join(", ")}`, "Linux 4.14 or newer with CONFIG_SECCOMP_FILTER=y");
  return ok(`filters with ${SECCOMP_ACTIONS.join(", ")}`);
}

/** `probe`: atoll-probe pidfd, or undefined when the native helpers are not built. */
export function judgePidfd(probe: ProbeRun | undefined): Verdict {
  if (!probe) return skip("cannot test: the native helpers are not built");
  if (probe.ok) return ok("pidfd_open and pidfd_send_signal work");
  // The daemon itself does not depend on pidfds yet: a warning, not a failure.
  return warn(`pidfds do not work: ${probe.error}`, "Linux 5.3 or newer (pidfd_open); no seccomp rule of the host may forbid it");
}

/** The kernel release and machine; informational (the feature checks decide). */
export function judgeKernel(kernelRelease: string, arch: string): Verdict {
  const [major = 0, minor = 0] = kernelRelease.split(".").map((p) => Number.parseInt(p, 10));
  const text = `Linux ${kernelRelease} ${arch}`;
  if (major < 5 || (major === 5 && minor < 10))
    return warn(`${text}: older than 5.10, which Atoll is tested with`, "a Linux 5.10 or newer kernel (Debian 12 ships 6.1)");
  return ok(text);
}

export const kernelChecks: Check[] = [
  { id: "root", title: "root", atStart: true, run: async () => judgeRoot(process.getuid?.() ?? -1) },
  {
    id: "kernel",
    title: "kernel",
    atStart: false,
    run: async () => judgeKernel(release(), machine()),
  },
  {
    id: "userns",
    title: "user namespaces",
    atStart: true,
    // The last namespace owner of the range: a running daemon hands them out from the first.
    run: async (ctx, facts) => judgeUserns(await probeUserns(ctx.searchPath, facts.uidBase + RESERVED_ID_COUNT - 1)),
  },
  { id: "overlay", title: "overlayfs", atStart: true, run: async (ctx) => judgeOverlay(await probeOverlay(ctx.searchPath)) },
  { id: "loop", title: "loop devices", atStart: true, run: async (ctx) => judgeLoop(await probeLoop(ctx.searchPath)) },
  {
    id: "seccomp",
    title: "seccomp",
    atStart: true,
    run: async () => judgeSeccomp(readText("/proc/self/status"), readText("/proc/sys/kernel/seccomp/actions_avail")),
  },
  {
    id: "pidfd",
    title: "pidfd",
    atStart: false,
    run: async (ctx) => {
      const probe = findTool("atoll-probe", ctx.nativeDir);
      return judgePidfd(probe ? await runProbe(probe, ["pidfd"], { searchPath: ctx.searchPath }) : undefined);
    },
  },
];
