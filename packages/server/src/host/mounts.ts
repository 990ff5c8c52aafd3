/**
 * Mounts on the host: mount/bind/propagation/umount through mount(8) and umount(8), the mount
 * table parsed from /proc/self/mountinfo, and statfs usage of a mounted path.
 */
import { mkdir, readFile, realpath, statfs } from "node:fs/promises";
import path from "node:path";
import { type CommandRunner, HostCommandError } from "./run-command.js";
import { DaemonError } from "../daemon-error.js";

/** One line of /proc/<pid>/mountinfo (see proc(5)); paths are unescaped. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem's device. */
  device: string;
  /** Path inside the filesystem that is mounted here ("/" for a whole filesystem). */
  root: string;
  /** Where it is mounted, in this process's mount namespace. */
  mountPoint: string;
  /** Per-mount options, e.g. ["rw", "nosuid", "noatime"]. */
  mountOptions: string[];
  /** Propagation tags, e.g. ["shared:5"], ["master:3"], [] for private. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options. */
  superOptions: string[];
}

/** Undoes the octal escapes of mountinfo (space \040, tab \011, newline \012, backslash \134). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parses the text of /proc/<pid>/mountinfo. Malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    const [mountId, parentId, device, root, mountPoint, mountOptions] = fields;
    if (mountId === undefined || parentId === undefined || device === undefined) continue;
    if (root === undefined || mountPoint === undefined || mountOptions === undefined) continue;
    entries.push({
      mountId: Number.parseInt(mountId, 10),
      parentId: Number.parseInt(parentId, 10),
      device,
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
      mountOptions: mountOptions.split(","),
      optionalFields: fields.slice(6, sep),
      fsType: unescapeMountField(fields[sep + 1] ?? ""),
      source: unescapeMountField(fields[sep + 2] ?? ""),
      superOptions: (fields[sep + 3] ?? "").split(","),
    });
  }
  return entries;
}

/** The mount table of this process's mount namespace. */
export async function readMountInfo(): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
}

/** Absolute path with symlinks resolved (as far as it exists), the form mountinfo uses. */
async function canonical(p: string): Promise<string> {
  const abs = path.resolve(p);
  try {
    return await realpath(abs);
  } catch {
    return abs;
  }
}

/** true when `p` is at or under `prefix` (both absolute and normalised). */
export function isAtOrUnder(p: string, prefix: string): boolean {
  if (prefix === "/") return p.startsWith("/");
  return p === prefix || p.startsWith(`${prefix}/`);
}

/** Mounts at or under `prefix`, deepest first (stacked mounts on one point: newest first). */
export function mountsUnder(entries: readonly MountInfoEntry[], prefix: string): MountInfoEntry[] {
  const order = new Map(entries.map((e, i) => [e, i]));
  return entries
    .filter((e) => isAtOrUnder(e.mountPoint, prefix))
    .sort((a, b) => {
      const depth = b.mountPoint.split("/").length - a.mountPoint.split("/").length;
      if (depth !== 0) return depth;
      return (order.get(b) ?? 0) - (order.get(a) ?? 0);
    });
}

/** true when `p` is itself a mount point in this mount namespace. */
export async function isMountPoint(p: string): Promise<boolean> {
  const target = await canonical(p);
  return (await readMountInfo()).some((e) => e.mountPoint === target);
}

/** The topmost mount at exactly `p`, if any. */
export async function findMount(p: string): Promise<MountInfoEntry | undefined> {
  const target = await canonical(p);
  const hits = (await readMountInfo()).filter((e) => e.mountPoint === target);
  return hits[hits.length - 1];
}

function optionsArg(options: string | readonly string[] | undefined): string[] {
  const list = typeof options === "string" ? [options] : (options ?? []);
  const joined = list.filter((o) => o !== "").join(",");
  return joined === "" ? [] : ["-o", joined];
}

/**
 * Mounts a filesystem: `mount -t TYPE [-o OPTIONS] SOURCE TARGET`. The target must exist.
 *
 * @example await mount(runner, "ext4", "/dev/loop3", "/var/lib/atoll/run/volumes/vol_1", ["noatime", "nosuid", "nodev"]);
 */
export async function mount(runner: CommandRunner, type: string, source: string, target: string, options?: string | readonly string[]): Promise<void> {
  await runner.run("mount", ["-t", type, ...optionsArg(options), "--", source, target]);
}

/**
 * Mounts like `mount`, then gives the new mount `propagation` in the same mount(8) run (one
 * process instead of two: this is on the sandbox-creation path).
 */
export async function mountWithPropagation(
  runner: CommandRunner,
  type: string,
  source: string,
  target: string,
  options: string | readonly string[],
  propagation: Propagation,
): Promise<void> {
  await runner.run("mount", ["-t", type, ...optionsArg(options), `--make-${propagation}`, "--", source, target]);
}

/** Moves the mount at `from` (and everything under it) to `to` (`mount --move`). */
export async function moveMount(runner: CommandRunner, from: string, to: string): Promise<void> {
  await runner.run("mount", ["--move", "--", from, to]);
}

export interface BindOptions {
  readOnly?: boolean;
  /** `--rbind`: also bind the mounts under `source`. */
  recursive?: boolean;
  /** Extra per-mount flags, e.g. ["nosuid", "nodev", "noexec"]. */
  flags?: readonly string[];
}

/**
 * Bind-mounts `source` on `target` (both must exist). With readOnly or flags, mount(8) applies
 * them in a second remount step, so the bind is read-only before anyone can use it.
 */
export async function bindMount(runner: CommandRunner, source: string, target: string, options: BindOptions = {}): Promise<void> {
  const flags = [...(options.flags ?? [])];
  if (options.readOnly) flags.push("ro");
  await runner.run("mount", [options.recursive ? "--rbind" : "--bind", ...optionsArg(flags), "--", source, target]);
}

export type Propagation = "shared" | "private" | "slave" | "unbindable";

/** Sets the propagation of the mount at `target` (`mount --make-[r]TYPE`). */
export async function setPropagation(runner: CommandRunner, target: string, type: Propagation, recursive = false): Promise<void> {
  await runner.run("mount", [`--make-${recursive ? "r" : ""}${type}`, "--", target]);
}

/** `mount --make-private TARGET`: mounts under it stay out of other namespaces' view. */
export function makePrivate(runner: CommandRunner, target: string, recursive = false): Promise<void> {
  return setPropagation(runner, target, "private", recursive);
}

/** `umount` reported that the target was not mounted (or is gone). */
function isNotMounted(error: unknown): boolean {
  return error instanceof HostCommandError && /not mounted|no mount point specified|mountpoint not found|No such file or directory/i.test(error.stderr);
}

/**
 * Unmounts `target`. `lazy: true` detaches it now and lets the kernel finish when the last user
 * goes away (`umount -l`). A target that is not mounted is not an error.
 * Without lazy, a busy filesystem throws (HostCommandError, stderr "target is busy").
 */
export async function umount(runner: CommandRunner, target: string, options: { lazy?: boolean } = {}): Promise<void> {
  const args = options.lazy ? ["-l", "--", target] : ["--", target];
  try {
    await runner.run("umount", args);
  } catch (error) {
    if (isNotMounted(error)) return;
    throw error;
  }
}

/** true when umount failed because the filesystem is in use. */
export function isBusyError(error: unknown): boolean {
  return error instanceof HostCommandError && /target is busy|device is busy|EBUSY/i.test(error.stderr);
}

/**
 * Unmounts every mount at or under `prefix`, deepest first, until none is left (stacked mounts
 * included). `lazy` defaults to true (daemon reconcile must not block on a busy leftover).
 * Returns the mount points it unmounted.
 * umount(8) follows symlinks in the path: only use this on trees no live sandbox can modify
 * (its processes are dead); inside live sandbox roots use atoll-mount.
 */
export async function umountTree(runner: CommandRunner, prefix: string, options: { lazy?: boolean } = {}): Promise<string[]> {
  const root = await canonical(prefix);
  const lazy = options.lazy ?? true;
  const done: string[] = [];
  // Each round unmounts what it sees; propagation or stacking can reveal more mounts.
  for (let round = 0; round < 16; round++) {
    const targets = mountsUnder(await readMountInfo(), root);
    if (targets.length === 0) return done;
    for (const entry of targets) {
      await umount(runner, entry.mountPoint, { lazy });
      done.push(entry.mountPoint);
    }
  }
  const left = mountsUnder(await readMountInfo(), root).map((e) => e.mountPoint);
  if (left.length > 0) throw new DaemonError("HOST_CLEANUP_FAILED", `could not unmount everything under ${root}: ${left.join(", ")}`);
  return done;
}

/**
 * Makes `dir` a private mount point: creates it, bind-mounts it on itself if it is not a mount
 * point yet, and marks it private unless it already is. Mounts made under it then never
 * propagate to (or from) other mount namespaces. Used for `<state>/run`.
 */
export async function ensurePrivateMount(runner: CommandRunner, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const target = await canonical(dir);
  let entry = await findMount(target);
  if (!entry) {
    await bindMount(runner, target, target);
    entry = await findMount(target);
  }
  if (!entry || entry.optionalFields.length > 0) await makePrivate(runner, target);
}

/** Space of the filesystem mounted at (or containing) a path, in bytes. */
export interface FsUsage {
  /** Size of a block (statfs f_bsize). */
  blockSize: number;
  /** Data blocks × block size (the filesystem's own metadata overhead is excluded). */
  totalBytes: number;
  /** Free for root (f_bfree). */
  freeBytes: number;
  /** Free for unprivileged users (f_bavail): what a new file can still use. */
  availableBytes: number;
  /** (f_blocks − f_bfree) × block size. */
  usedBytes: number;
  totalInodes: number;
  freeInodes: number;
}

/** statfs(2) of `p`, in bytes. */
export async function statfsUsage(p: string): Promise<FsUsage> {
  const s = await statfs(p);
  return {
    blockSize: s.bsize,
    totalBytes: s.blocks * s.bsize,
    freeBytes: s.bfree * s.bsize,
    availableBytes: s.bavail * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    totalInodes: s.files,
    freeInodes: s.ffree,
  };
}
