/**
 * Command lines of a sandbox launch: atoll-launch's options and the bwrap invocation of
 * docs/architecture.md, plus the /proc paths masked the way Docker masks them.
 */
import { statSync } from "node:fs";

/** /proc files that leak host information; hidden behind /dev/null when the kernel has them. */
export const PROC_MASK_FILES = ["kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug", "sysrq-trigger"] as const;
/** /proc directories hidden behind an empty tmpfs when the kernel has them. */
export const PROC_MASK_DIRS = ["acpi", "scsi", "asound"] as const;

/**
 * bwrap options masking the /proc entries this kernel has (looked up in the host's /proc,
 * which has the same entries as the sandbox's). bwrap cannot bind a path of the new /proc onto
 * itself read-only, so /proc/sys, /proc/irq, /proc/bus, /proc/fs stay as they are: their files
 * belong to the host's root, which the sandbox's user namespace does not map, so they are not
 * writable from inside.
 */
export function procMaskArgs(procRoot = "/proc"): string[] {
  const args: string[] = [];
  for (const name of PROC_MASK_FILES) {
    const st = statOrUndefined(`${procRoot}/${name}`);
    // --dev-bind: a --ro-bind mount is nodev, and opening /dev/null there fails with EACCES;
    // Docker-like masking reads empty instead.
    if (st?.isFile()) args.push("--dev-bind", "/dev/null", `/proc/${name}`);
  }
  for (const name of PROC_MASK_DIRS) {
    const st = statOrUndefined(`${procRoot}/${name}`);
    if (st?.isDirectory()) args.push("--tmpfs", `/proc/${name}`, "--remount-ro", `/proc/${name}`);
  }
  return args;
}

function statOrUndefined(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

export interface LaunchArgs {
  uidBase: number;
  /** Host uid that owns the sandbox's user namespace (owner-uids.ts); absent: host root. */
  ownerUid?: number | undefined;
  /** cgroup.procs files the launcher joins (cgroup v1). */
  cgroupProcs: readonly string[];
  /** cgroup v2: the directory the launcher forks its work into (atoll-launch --cgroup-dir). */
  cgroupDir?: string | undefined;
  bwrap: string;
  /** Host path of the sandbox root (overlay). */
  root: string;
  /** Host path of the atoll-init binary. */
  init: string;
  /** Host path of the atoll-fs binary (file operations, docs/files.md), bound at /.atoll/fs. */
  fsHelper?: string;
  hostname: string;
  /** Extra bwrap options placed after /proc and /dev are set up (procMaskArgs). */
  masks: readonly string[];
  /** Network namespace the launcher joins (see atoll-launch.c); absent: bwrap --unshare-net. */
  netnsPath?: string | undefined;
  /** `--mount-base … --attach-tree …` (mount-base.ts): the mount namespace the launcher starts from. */
  mountBase?: readonly string[];
}

/** argv (without the program) of `atoll-launch ... -- bwrap ... -- /.atoll/init`. */
export function launchArgs(a: LaunchArgs): string[] {
  return [
    "--uid-base",
    String(a.uidBase),
    ...(a.ownerUid !== undefined ? ["--owner-uid", String(a.ownerUid)] : []),
    ...a.cgroupProcs.flatMap((f) => ["--cgroup-procs", f]),
    ...(a.cgroupDir ? ["--cgroup-dir", a.cgroupDir] : []),
    ...(a.netnsPath ? ["--netns", a.netnsPath] : []),
    ...(a.mountBase ?? []),
    "--",
    a.bwrap,
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    ...(a.netnsPath ? [] : ["--unshare-net"]),
    "--unshare-cgroup",
    "--as-pid-1",
    "--die-with-parent",
    "--new-session",
    "--bind",
    a.root,
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/dev/shm",
    ...a.masks,
    "--ro-bind",
    a.init,
    "/.atoll/init",
    ...(a.fsHelper ? ["--ro-bind", a.fsHelper, "/.atoll/fs"] : []),
    "--hostname",
    a.hostname,
    "--chdir",
    "/",
    "--",
    "/.atoll/init",
  ];
}
