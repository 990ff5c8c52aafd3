/**
 * Where volume and snapshot images live: a directory whose filesystem can clone files
 * (reflink), so a snapshot or a fork is a clone that takes milliseconds and no space
 * (docs/snapshots.md "The copy-on-write pool").
 *
 * - The state directory's own filesystem clones (XFS with reflink, btrfs): images live in
 *   `<stateDir>/volumes` and `<stateDir>/snapshots`, nothing else is needed ("native").
 * - Otherwise (ext4: this project's usual host): an XFS filesystem (`mkfs.xfs -m reflink=1`) in a
 *   sparse file `<stateDir>/cow-pool.xfs`, mounted (loop, autoclear, direct I/O, discard) at
 *   `<runDir>/cow-pool`; images live in its `volumes/` and `snapshots/` ("pool"). Its nominal size
 *   is the host filesystem's size, so it never caps the volumes below what the host disk allows;
 *   it takes host space only as blocks are written, and gives it back when files are deleted
 *   (discard punches holes in the pool file). When the host filesystem grows, the pool grows with
 *   it at the next start (`xfs_growfs`, online).
 */
import { chmod, mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { DaemonError } from "../daemon-error.js";
import { findLoopDevicesForFile } from "../host/loop-device.js";
import { findMount, mount, statfsUsage, umount } from "../host/mounts.js";
import { supportsReflink } from "../host/reflink.js";
import { findTool } from "../host/find-tool.js";
import { type CommandRunner, HOST_PATH } from "../host/run-command.js";
import type { StorageLogger } from "./loop-volume-backend.js";

export const POOL_FILE = "cow-pool.xfs";
const POOL_BASELINE = "cow-pool.json";
const POOL_MOUNT_OPTIONS = ["loop", "discard", "noatime", "nosuid", "nodev"] as const;

export interface CowPoolOptions {
  stateDir: string;
  runDir: string;
  runner: CommandRunner;
  logger: StorageLogger;
  /** Use the XFS pool even when the state directory's filesystem clones (tests of the pool). */
  forcePool?: boolean;
  /** Behave as a host without the pool's tools ("plain"; tests of that fallback). */
  noPool?: boolean;
}

/** What the pool's empty filesystem already used when it was made (it is not volumes' space). */
interface Baseline {
  usedBytes: number;
  allocBytes: number;
}

/** The copy-on-write home of images (see the file comment). */
export class CowPool {
  private constructor(
    /**
     * "native": the state directory clones by itself; "pool": the XFS pool file; "plain": neither
     * (the pool's tools are missing on a new state directory): images are plain files in the state
     * directory and snapshots, forks and restores copy them in full.
     */
    readonly kind: "native" | "pool" | "plain",
    /** Directory of volume images. */
    readonly volumesDir: string,
    /** Directory of snapshot images. */
    readonly snapshotsDir: string,
    private readonly pool?: { file: string; mountPoint: string; baseline: Baseline; runner: CommandRunner },
  ) {}

  /**
   * Opens the home of images: detects whether the state directory clones, else makes (first
   * time), grows (host grew) and mounts the XFS pool, or adopts its mount left by a daemon that
   * was killed.
   */
  static async open(options: CowPoolOptions): Promise<CowPool> {
    const stateDir = path.resolve(options.stateDir);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, POOL_FILE);
    const hasPool = await stat(file).then(
      () => true,
      () => false,
    );
    if (!hasPool && !options.forcePool && (await supportsReflink(options.runner, stateDir))) {
      const pool = new CowPool("native", path.join(stateDir, "volumes"), path.join(stateDir, "snapshots"));
      await pool.makeDirs();
      options.logger.info({ stateDir }, "the state directory's filesystem clones files: images live in it");
      return pool;
    }
    const missing = ["mkfs.xfs", "xfs_growfs"].filter((tool) => !findTool(tool, HOST_PATH));
    if (!hasPool && (options.noPool || missing.length > 0)) {
      const pool = new CowPool("plain", path.join(stateDir, "volumes"), path.join(stateDir, "snapshots"));
      await pool.makeDirs();
      options.logger.warn(
        { stateDir, missing },
        "no copy-on-write pool (install xfsprogs, or put the state directory on XFS with reflink or btrfs): snapshots and forks copy volumes in full",
      );
      return pool;
    }
    const mountPoint = path.join(path.resolve(options.runDir), "cow-pool");
    const baseline = await openPool(options, file, mountPoint, hasPool);
    const pool = new CowPool("pool", path.join(mountPoint, "volumes"), path.join(mountPoint, "snapshots"), {
      file,
      mountPoint,
      baseline,
      runner: options.runner,
    });
    await pool.makeDirs();
    return pool;
  }

  /** true when images here can be cloned (milliseconds, shared blocks); false: copied in full. */
  get clones(): boolean {
    return this.kind !== "plain";
  }

  private async makeDirs(): Promise<void> {
    await mkdir(this.volumesDir, { recursive: true, mode: 0o700 });
    await mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Host bytes the pool may still take without any new admission: blocks its filesystem has given
   * to files (volumes are allocated in full there) that the pool file does not have on the host
   * yet. The disk budget counts them as promised growth, like a sparse scratch's. 0 for "native".
   */
  async growthBytes(): Promise<number> {
    if (!this.pool) return 0;
    const { file, mountPoint, baseline } = this.pool;
    // The pool's allocation before its usage, as DiskBudget.measure orders its reads: a block
    // written in between is counted twice (safe), never not at all.
    const alloc = (await stat(file)).blocks * 512;
    const used = (await statfsUsage(mountPoint)).usedBytes;
    return Math.max(0, used - baseline.usedBytes - Math.max(0, alloc - baseline.allocBytes));
  }

  /**
   * Removes an image so that its space, the extents other files no longer share and the
   * promise it held are accounted at once: XFS frees an unlinked file's blocks later, in the
   * background (inode GC), but a truncate frees them in its own transaction. A missing file is fine.
   */
  async removeImage(file: string): Promise<void> {
    try {
      await truncate(file, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    await rm(file, { force: true });
  }

  /** Daemon shutdown, after every volume was unmounted: unmounts the pool (its loop device goes with it). */
  async close(): Promise<void> {
    if (!this.pool) return;
    await umount(this.pool.runner, this.pool.mountPoint);
    // The loop device (autoclear) lets go of the pool file once the unmount is through, which
    // waits in turn for the volumes' own loop devices (their images are files in the pool) to be
    // released by the kernel: on a busy host that chain has taken more than 2 s. Wait for it, so
    // a stopped daemon leaves no loop device behind.
    for (let i = 0; i < 500 && (await findLoopDevicesForFile(this.pool.file)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Makes (first time), grows and mounts the pool; returns its baseline. */
async function openPool(options: CowPoolOptions, file: string, mountPoint: string, exists: boolean): Promise<Baseline> {
  const { runner, logger } = options;
  const missing = ["mkfs.xfs", "xfs_growfs"].filter((tool) => !findTool(tool, HOST_PATH));
  if (missing.length > 0) {
    throw new DaemonError(
      "HOST_NOT_READY",
      `This state directory's volumes live in a copy-on-write pool (${file}), and ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not installed: install xfsprogs (scripts/setup.sh does).`,
    );
  }
  const hostBytes = await hostSizeOf(path.dirname(file));
  if (!exists) {
    // Made under a temporary name: a crash during mkfs leaves no half-made pool behind.
    const part = `${file}.part`;
    await rm(part, { force: true });
    const handle = await open(part, "w", 0o600);
    await handle.truncate(hostBytes);
    await handle.close();
    try {
      // 512-byte sectors: a volume image on it attached with direct I/O gets the pool's sector
      // size as its own, and small volumes' ext4 (1 KiB blocks) cannot mount on 4 KiB sectors.
      await runner.run("mkfs.xfs", ["-q", "-K", "-m", "reflink=1", "-s", "size=512", "-L", "atoll-pool", part]);
      await rename(part, file);
    } catch (error) {
      await rm(part, { force: true });
      throw error;
    }
    logger.info({ file, nominalBytes: hostBytes }, "copy-on-write pool created");
  }
  await mkdir(mountPoint, { recursive: true, mode: 0o700 });
  const mounted = await findMount(mountPoint);
  if (mounted) {
    const backing = (await findLoopDevicesForFile(file)).map((d) => d.device);
    if (!backing.includes(mounted.source)) {
      throw new DaemonError("HOST_NOT_READY", `${mountPoint} is a mount that is not this daemon's pool (${mounted.source}); unmount it and start again`);
    }
    logger.warn({ mountPoint }, "adopting the copy-on-write pool a previous daemon left mounted");
  } else {
    await mount(runner, "xfs", file, mountPoint, POOL_MOUNT_OPTIONS);
  }
  // The pool's root (XFS makes it 0755): only root may enter, like the rest of the state directory.
  await chmod(mountPoint, 0o700);
  const device = (await findLoopDevicesForFile(file))[0]?.device;
  if (device) {
    // No second copy of volume data in the host's page cache (best effort: not every kernel can).
    await runner.run("losetup", ["--direct-io=on", device]).catch((err: unknown) => logger.warn({ err, device }, "pool loop device without direct I/O"));
    if ((await stat(file)).size < hostBytes) {
      await growPool(runner, file, device, mountPoint, hostBytes);
      logger.info({ file, nominalBytes: hostBytes }, "copy-on-write pool grown to the host filesystem's size");
    }
  }
  return loadBaseline(file, mountPoint, !exists);
}

/** Grows the pool file to `bytes` and its filesystem with it, online. */
async function growPool(runner: CommandRunner, file: string, device: string, mountPoint: string, bytes: number): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.truncate(bytes);
  } finally {
    await handle.close();
  }
  await runner.run("losetup", ["--set-capacity", device]);
  await runner.run("xfs_growfs", [mountPoint]);
}

/** The host filesystem's size, in whole MiB (XFS wants whole blocks). */
async function hostSizeOf(dir: string): Promise<number> {
  const total = (await statfsUsage(dir)).totalBytes;
  return Math.floor(total / 2 ** 20) * 2 ** 20;
}

/**
 * The baseline recorded when the pool was made (`fresh`: record it now). A pool whose record was
 * lost counts from zero: its empty filesystem's metadata then counts as promised (safe side).
 */
async function loadBaseline(file: string, mountPoint: string, fresh: boolean): Promise<Baseline> {
  const record = path.join(path.dirname(file), POOL_BASELINE);
  if (fresh) {
    const baseline = { allocBytes: (await stat(file)).blocks * 512, usedBytes: (await statfsUsage(mountPoint)).usedBytes };
    await writeFile(record, JSON.stringify(baseline), { mode: 0o600 });
    return baseline;
  }
  try {
    const parsed = JSON.parse(await readFile(record, "utf8")) as Partial<Baseline>;
    if (Number.isSafeInteger(parsed.usedBytes) && Number.isSafeInteger(parsed.allocBytes)) return parsed as Baseline;
  } catch {
    // missing or unreadable: counted from zero below
  }
  return { usedBytes: 0, allocBytes: 0 };
}
