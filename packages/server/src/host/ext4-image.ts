/**
 * Sparse ext4 image files: create (sparse file + mkfs.ext4), check (e2fsck -p), read the
 * superblock counters (dumpe2fs -h), remove. The images back loop devices (loop-device.ts).
 */
import { open, rm } from "node:fs/promises";
import { AtollError } from "atoll/contract";
import { HostCommandError, type CommandRunner } from "./run-command.js";
import { DaemonError } from "../daemon-error.js";

/**
 * Creates a sparse file of exactly `sizeBytes` bytes (open O_EXCL + ftruncate: no blocks
 * allocated). Fails with EEXIST if the file exists. File mode 0600.
 */
export async function createSparseFile(file: string, sizeBytes: number): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new RangeError(`image size must be a positive integer of bytes, got ${sizeBytes}`);
  }
  const handle = await open(file, "wx", 0o600);
  try {
    try {
      await handle.truncate(sizeBytes);
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

export interface MkfsExt4Options {
  /** Owner of the filesystem's root directory (`-E root_owner=UID:GID`). Default: the caller (root). */
  rootOwner?: { uid: number; gid: number };
  /** Feature flags for `-O`, e.g. ["^has_journal"] for a journal-less scratch filesystem. */
  features?: string[];
  /** Block size in bytes (`-b`); mke2fs picks one from the size when omitted. */
  blockSize?: number;
  /** Volume label (`-L`, at most 16 bytes). */
  label?: string;
  /** Bytes per inode (`-i`); fewer inodes make mkfs and fsck faster on big, few-file volumes. */
  bytesPerInode?: number;
  /** Number of inodes (`-N`, rounded up to whole block groups); see inode-sizing.ts. */
  inodeCount?: number;
  /**
   * Zero the inode tables now (`lazy_itable_init=0`) instead of leaving it to the kernel after
   * the first mount. On an allocated file mke2fs does it with fallocate(ZERO_RANGE): nothing is
   * written, and the file stays allocated. The kernel's background zeroing instead goes through
   * the loop device as "write zeroes", which punches holes: an allocated image would lose the
   * blocks of its inode tables. On a sparse file, leave this off (it would allocate them).
   */
  zeroInodeTables?: boolean;
}

/**
 * Makes an ext4 filesystem on an existing (sparse) image file:
 * `mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard[,root_owner=U:G]`.
 * No blocks are reserved for root (-m 0); inode tables (unless zeroInodeTables) and the journal
 * are not zeroed, so a sparse image stays sparse (about 0.7 MB on disk for 1 GiB). The root
 * directory has mode 0755.
 */
export async function mkfsExt4(runner: CommandRunner, image: string, options: MkfsExt4Options = {}): Promise<void> {
  const extended = [`lazy_itable_init=${options.zeroInodeTables ? 0 : 1}`, "lazy_journal_init=1", "nodiscard"];
  if (options.rootOwner) {
    const { uid, gid } = options.rootOwner;
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) {
      throw new RangeError(`invalid root owner ${uid}:${gid}`);
    }
    extended.push(`root_owner=${uid}:${gid}`);
  }
  const args = ["-q", "-F", "-m", "0", "-E", extended.join(",")];
  if (options.features?.length) args.push("-O", options.features.join(","));
  if (options.blockSize !== undefined) args.push("-b", String(options.blockSize));
  if (options.bytesPerInode !== undefined) args.push("-i", String(options.bytesPerInode));
  if (options.inodeCount !== undefined) args.push("-N", String(options.inodeCount));
  if (options.label !== undefined) args.push("-L", options.label);
  args.push(image);
  await runner.run("mkfs.ext4", args);
}

/**
 * Allocates every block of an existing file up to `sizeBytes` (`fallocate -l`), keeping its
 * data: what a loop-backed filesystem writes later can then never fail for lack of host space
 * (ENOSPC of the host would reach it as EIO). The blocks are unwritten extents: reading them
 * gives zeros, and nothing is written now (20 GiB take about 20 ms on ext4).
 */
export async function allocateFile(runner: CommandRunner, file: string, sizeBytes: number): Promise<void> {
  await runner.run("fallocate", ["-l", String(sizeBytes), file]);
}

/**
 * Creates an image of `sizeBytes` and formats it (createSparseFile [+ allocateFile] + mkfsExt4):
 * sparse, or with `allocate: true` allocated in full first (mkfs runs with nodiscard and zeroes
 * the inode tables itself, so it keeps the allocation). On any failure the partial file is removed.
 * `afterStep` is called once the file exists and once it is formatted (the crash points).
 */
export async function createExt4Image(
  runner: CommandRunner,
  image: string,
  sizeBytes: number,
  options: MkfsExt4Options & { allocate?: boolean; afterStep?: (step: "image" | "mkfs") => void } = {},
): Promise<void> {
  await createSparseFile(image, sizeBytes);
  try {
    if (options.allocate) await allocateFile(runner, image, sizeBytes);
    options.afterStep?.("image");
    await mkfsExt4(runner, image, { ...options, zeroInodeTables: options.zeroInodeTables ?? options.allocate === true });
    options.afterStep?.("mkfs");
  } catch (error) {
    await rm(image, { force: true });
    throw error;
  }
}

/** Outcome of a successful `fsckExt4`. */
export interface FsckResult {
  /** 0: clean; 1: errors were corrected; 2: corrected, reboot advised (irrelevant for images). */
  exitCode: 0 | 1 | 2;
  /** true when e2fsck changed the filesystem. */
  fixed: boolean;
  output: string;
}

/** e2fsck found errors it could not fix, or could not run (exit code ≥ 4). Internal (EXT4_CHECK_FAILED). */
export class Ext4CheckError extends AtollError {
  constructor(
    readonly image: string,
    readonly exitCode: number | null,
    readonly output: string,
    options?: ErrorOptions,
  ) {
    super("EXT4_CHECK_FAILED", `e2fsck of ${image} failed (exit ${exitCode ?? "?"}): ${output.trim() || "no output"}`, undefined, options);
  }
}

/**
 * Checks an unmounted image with `e2fsck -p` (preen: fixes what is safe to fix, replays the
 * journal). Exit 1/2 (fixed) resolve; exit ≥ 4 throws Ext4CheckError.
 * `force: true` adds -f (full check even when the filesystem is marked clean).
 * `mode: "yes"` runs `-y` instead of `-p` (answer yes to every fix: last resort).
 */
export async function fsckExt4(runner: CommandRunner, image: string, options: { force?: boolean; mode?: "preen" | "yes" } = {}): Promise<FsckResult> {
  const args = [options.mode === "yes" ? "-y" : "-p"];
  if (options.force) args.push("-f");
  args.push(image);
  try {
    const { stdout, stderr } = await runner.run("e2fsck", args, { timeoutMs: 30 * 60_000 });
    return { exitCode: 0, fixed: false, output: stdout + stderr };
  } catch (error) {
    if (error instanceof HostCommandError && (error.exitCode === 1 || error.exitCode === 2)) {
      return { exitCode: error.exitCode, fixed: true, output: error.stderr };
    }
    if (error instanceof HostCommandError) {
      throw new Ext4CheckError(image, error.exitCode, error.stderr, { cause: error });
    }
    throw error;
  }
}

/** Superblock counters of an ext4 image (`dumpe2fs -h`). */
export interface Ext4Superblock {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  /** Blocks of filesystem metadata (bitmaps, inode tables, journal) that statfs does not count. */
  overheadBlocks: number;
  inodeCount: number;
  freeInodes: number;
  /** "clean", "not clean", "clean with errors", … */
  state: string;
  /** Filesystem features; "needs_recovery" means the journal must be replayed (e2fsck or mount). */
  features: string[];
}

/**
 * Reads the superblock of an **unmounted** image (the free counts of a mounted filesystem are
 * only written back at unmount or sync, so they lag).
 */
export async function readExt4Superblock(runner: CommandRunner, image: string): Promise<Ext4Superblock> {
  const { stdout } = await runner.run("dumpe2fs", ["-h", image]);
  const fields = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const num = (name: string, fallback?: number): number => {
    const raw = fields.get(name);
    const value = raw === undefined ? NaN : Number.parseInt(raw, 10);
    if (Number.isFinite(value)) return value;
    if (fallback !== undefined) return fallback;
    throw new DaemonError("HOST_COMMAND_FAILED", `dumpe2fs -h ${image}: no "${name}" field`);
  };
  return {
    blockSize: num("Block size"),
    blockCount: num("Block count"),
    freeBlocks: num("Free blocks"),
    // mke2fs ≥ 1.46.5 records the overhead; older images fall back to 0 (usage then also counts metadata).
    overheadBlocks: num("Overhead clusters", 0),
    inodeCount: num("Inode count"),
    freeInodes: num("Free inodes"),
    state: fields.get("Filesystem state") ?? "unknown",
    features: (fields.get("Filesystem features") ?? "").split(/\s+/).filter((f) => f !== ""),
  };
}

/**
 * Used bytes of an unmounted image, equal to what statfs reports once it is mounted:
 * (block count − overhead − free blocks) × block size.
 */
export function usedBytesOf(sb: Ext4Superblock): number {
  return Math.max(0, sb.blockCount - sb.overheadBlocks - sb.freeBlocks) * sb.blockSize;
}

/** Removes an image file; a missing file is not an error. Its blocks are freed at once. */
export async function removeImage(image: string): Promise<void> {
  await rm(image, { force: true });
}

/**
 * Block size of the ext4 filesystem in `image`, read from its superblock (s_log_block_size at
 * byte 1024 + 24) without running a tool: cheap enough for every mount.
 */
export async function ext4BlockSize(image: string): Promise<number> {
  const handle = await open(image, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buf, 0, 4, 1024 + 24);
    const log = bytesRead === 4 ? buf.readUInt32LE(0) : 0;
    return log <= 6 ? 1024 << log : 1024;
  } finally {
    await handle.close();
  }
}
