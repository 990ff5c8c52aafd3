/**
 * Snapshot images: read-only, point-in-time clones of volume images in the copy-on-write pool
 * (`<pool>/snapshots/<id>.img`, mode 0400). Made under a temporary name and renamed when
 * complete, so a crash mid-snapshot leaves only a `.part` file, removed at the next start.
 * docs/snapshots.md tells the whole story.
 */
import { chmod, mkdtemp, readdir, rename, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { allocateFile, fsckExt4, readExt4Superblock } from "../host/ext4-image.js";
import { statfsUsage } from "../host/mounts.js";
import path from "node:path";
import { cloneFile, copyFileSparse } from "../host/reflink.js";
import type { CommandRunner } from "../host/run-command.js";
import type { StorageLogger } from "./loop-volume-backend.js";
import { AtollError } from "atoll/contract";

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SUFFIX = ".img";
const PART = ".part";

/** The snapshot's image does not exist on this host (SNAPSHOT_NOT_FOUND). */
export class SnapshotBackingMissingError extends AtollError {
  constructor(snapshotId: string, options?: ErrorOptions) {
    super("SNAPSHOT_NOT_FOUND", `snapshot ${snapshotId} has no image on this host`, { snapshotId }, options);
  }
}

/** Path of a snapshot's image in `dir`. */
export function snapshotImage(dir: string, snapshotId: string): string {
  if (!SNAPSHOT_ID.test(snapshotId)) throw new RangeError(`invalid snapshot id ${JSON.stringify(snapshotId)}`);
  return path.join(dir, snapshotId + SUFFIX);
}

/**
 * Clones `image` into the snapshot `target` (temporary name, fsync by rename's caller, read-only
 * mode, then the final name). `clone: false` (an image outside the pool, made by an earlier
 * release) copies in full instead: as long as the data, logged. The caller holds the source
 * still (frozen mount, or not mounted) for the duration.
 */
export async function writeSnapshotImage(deps: { runner: CommandRunner; log: StorageLogger }, image: string, target: string, clone: boolean): Promise<void> {
  const part = target + PART;
  await rm(part, { force: true });
  try {
    if (clone) {
      await cloneFile(deps.runner, image, part);
    } else {
      const started = Date.now();
      await copyFileSparse(deps.runner, image, part);
      deps.log.warn({ image, ms: Date.now() - started }, "snapshot of a volume outside the copy-on-write pool: copied in full");
    }
    await chmod(part, 0o400);
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

/**
 * Bytes of `image` that no other file shares: what deleting it would give back. Read from the
 * extent map (`filefrag -v`, FIEMAP: an extent flagged "shared" is also another file's).
 * Unwritten (allocated, never written) extents count: they hold space too.
 */
export async function exclusiveBytes(runner: CommandRunner, image: string): Promise<number> {
  const { stdout } = await runner.run("filefrag", ["-v", image]);
  return parseExtentBytes(stdout).exclusive;
}

/**
 * Bytes of `image` that other files share: what writing over all of it would take anew (each
 * shared block a volume rewrites is copied first). Counted as promised in the disk budget.
 */
export async function sharedBytes(runner: CommandRunner, image: string): Promise<number> {
  const { stdout } = await runner.run("filefrag", ["-v", image]);
  return parseExtentBytes(stdout).shared;
}

/** Bytes of shared and of unshared extents in `filefrag -v` output (see exclusiveBytes). */
export function parseExtentBytes(output: string): { shared: number; exclusive: number } {
  const size = /blocks of (\d+) bytes/.exec(output);
  const blockSize = size ? Number(size[1]) : 4096;
  let shared = 0;
  let exclusive = 0;
  for (const line of output.split("\n")) {
    // "   0:        0..    2047:         24..      2071:   2048:             shared"
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):\s*(?:\d+:)?\s*(.*)$/.exec(line);
    if (!m) continue;
    const flags = (m[2] ?? "").split(",").map((f) => f.trim());
    if (flags.includes("shared")) shared += Number(m[1]);
    else exclusive += Number(m[1]);
  }
  return { shared: shared * blockSize, exclusive: exclusive * blockSize };
}

/**
 * At daemon start: removes half-made snapshots (`.part`) and, when `known` is given, images of
 * snapshots the store does not know. Returns the ids of the images kept.
 */
export async function reconcileSnapshotImages(log: StorageLogger, dir: string, known: ReadonlySet<string> | undefined): Promise<Set<string>> {
  const kept = new Set<string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    const id = entry.isFile() && entry.name.endsWith(SUFFIX) ? entry.name.slice(0, -SUFFIX.length) : undefined;
    if (id !== undefined && (known === undefined || known.has(id))) {
      kept.add(id);
      continue;
    }
    log.warn({ file }, entry.name.endsWith(PART) ? "removing a half-made snapshot" : "removing the image of an unknown snapshot");
    await rm(file, { force: true, recursive: true });
  }
  return kept;
}

/** Apparent size of a snapshot image (its volume's capacity when it was taken). */
export async function snapshotCapacity(image: string, snapshotId: string): Promise<number> {
  try {
    return (await stat(image)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new SnapshotBackingMissingError(snapshotId, { cause: error });
    throw error;
  }
}

/**
 * resize2fs drops the superblock's record of how many blocks are metadata ("Overhead clusters"):
 * the kernel then computes it at mount, but the volume's usage read from the unmounted image
 * (ext4-image.ts usedBytesOf) would count the metadata as used. A read-only mount (that replays
 * nothing) computes it; it is written back with debugfs.
 */
async function recordOverhead(runner: CommandRunner, image: string): Promise<void> {
  const at = await mkdtemp(path.join(tmpdir(), "atoll-resize-"));
  let dataBlocks: number;
  try {
    await runner.run("mount", ["-t", "ext4", "-o", "loop,ro,noload", "--", image, at]);
    try {
      const fs = await statfsUsage(at);
      dataBlocks = fs.totalBytes / fs.blockSize;
    } finally {
      await runner.run("umount", ["--", at]);
    }
  } finally {
    await rm(at, { recursive: true, force: true });
  }
  const sb = await readExt4Superblock(runner, image);
  await runner.run("debugfs", ["-w", "-R", `ssv overhead_clusters ${sb.blockCount - dataBlocks}`, image]);
}

/**
 * Makes `target` (a volume image, not existing yet) start as the snapshot image `source`: a clone
 * (no data copied), grown to `capacityBytes` when that is larger (truncate, `e2fsck -fp`, offline
 * `resize2fs`), then allocated in full like every volume (only the holes: shared blocks stay
 * shared; `clone: false`, without a pool: a full sparse copy). Made under a temporary name and renamed at the end, so `target` is either the whole
 * result or untouched (a restore replaces a volume's image this way).
 */
export async function cloneSnapshotImage(runner: CommandRunner, source: string, target: string, capacityBytes: number, clone = true): Promise<void> {
  const part = `${target}.part`;
  await rm(part, { force: true });
  try {
    if (clone) await cloneFile(runner, source, part);
    else await copyFileSparse(runner, source, part);
    await chmod(part, 0o600);
    if ((await stat(part)).size < capacityBytes) {
      await truncate(part, capacityBytes);
      await fsckExt4(runner, part, { force: true });
      await runner.run("resize2fs", ["-p", part], { timeoutMs: 30 * 60_000 });
      await recordOverhead(runner, part);
    }
    await allocateFile(runner, part, capacityBytes);
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}
