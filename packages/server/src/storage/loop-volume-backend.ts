/**
 * The volume storage backend of a single host: every volume is an ext4 image file in the
 * copy-on-write pool (cow-pool.ts: `<pool>/volumes/<id>.img`; volumes made before the pool stay
 * in `<stateDir>/volumes/<id>.img`) that is attached to a loop device and mounted once at
 * `<runDir>/volumes/<id>` while any sandbox uses it (reference counted). The runtime
 * bind-mounts that directory into sandboxes read-write or read-only.
 *
 * Concurrency: every operation on one volume runs under that volume's lock (KeyedMutex), so
 * concurrent acquire/release/delete of the same volume are serialised; different volumes
 * proceed in parallel.
 */
import { existsSync } from "node:fs";
import { mkdir, open, readdir, realpath, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import type { SnapshotUsage, StorageDriver, VolumeUsage } from "../core/drivers.js";
import { DiskBudget } from "../host/disk-budget.js";
import { createExt4Image, ext4BlockSize, readExt4Superblock, removeImage, usedBytesOf } from "../host/ext4-image.js";
import { inodeCountFor } from "../host/inode-sizing.js";
import { KeyedMutex } from "../host/keyed-mutex.js";
import type { CommandRunner } from "../host/run-command.js";
import { LoopAlreadyAttachedError, attachLoop, detachLoop, findLoopDevicesForFile, isLoopBound, findLoopDevicesUnder } from "../host/loop-device.js";
import { isBusyError, isMountPoint, mount, mountsUnder, readMountInfo, statfsUsage, umount, umountTree } from "../host/mounts.js";
import { SnapshotBackingExistsError, VolumeAcquiredError, VolumeBackingExistsError, VolumeBackingMissingError, VolumeStillDetachingError } from "./storage-errors.js";
import { allocateInFull, checkImage } from "./image-upkeep.js";
import { adoptLostAndFound } from "./volume-root.js";
import { DaemonError } from "../daemon-error.js";
import { CowPool } from "./cow-pool.js";
import { thaw, withFrozen } from "../host/reflink.js";
import { cloneSnapshotImage, exclusiveBytes, reconcileSnapshotImages, sharedBytes, snapshotCapacity, snapshotImage, writeSnapshotImage } from "./snapshot-images.js";

/** The subset of pino's logger this backend uses. */
export interface StorageLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LoopVolumeBackendOptions {
  /** The daemon's state directory; images live in `<stateDir>/volumes/`. */
  stateDir: string;
  /** The daemon's private mount directory (`<stateDir>/run`); mounts go to `<runDir>/volumes/`. */
  runDir: string;
  /** Host uid/gid that sandbox uid/gid 0 maps to; the volume root is owned by uidBase+1000 (`app`). */
  uidBase: number;
  /** Runs losetup, mkfs, mount, e2fsck, … (the daemon's host spawner; tests: execFileRunner). */
  runner: CommandRunner;
  logger?: StorageLogger;
  /** Attach loop devices with `--direct-io=on` (default true: measured faster, no double caching). */
  directIo?: boolean;
  /**
   * The daemon's disk budget (reserve, pending creates, squeezing sandboxes' roots); absent: a
   * budget of its own with no reserve (free space only), so there is one admission check.
   */
  disk?: Pick<DiskBudget, "withVolume" | "countGrowth">;
  /** Use the XFS pool even when the state directory's filesystem clones by itself (tests). */
  forcePool?: boolean;
}

/** Per-mount options of a volume's host mount. */
export const VOLUME_MOUNT_OPTIONS = ["noatime", "nosuid", "nodev", "errors=remount-ro"] as const;

/** uid/gid of the `app` user inside sandboxes. */
const APP_ID = 1000;
/** Volume ids become file names: keep them to a safe alphabet. */
const VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const IMAGE_SUFFIX = ".img";
/** How long acquire/delete wait for a draining loop device before answering VOLUME_BUSY. */
const DRAIN_WAIT_MS = 3000;

interface AcquiredVolume {
  refs: number;
  device: string;
  mountPoint: string;
}

const silentLogger: StorageLogger = {
  info: () => undefined,
  warn: (obj, msg) => console.warn(msg ?? "", obj),
  error: (obj, msg) => console.error(msg ?? "", obj),
};

function assertVolumeId(volumeId: string): void {
  if (!VOLUME_ID.test(volumeId)) throw new RangeError(`invalid volume id ${JSON.stringify(volumeId)}`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** fsyncs a file and then its directory, so a crash cannot lose what mkfs wrote. */
async function syncFileAndDir(file: string): Promise<void> {
  for (const p of [file, path.dirname(file)]) {
    const handle = await open(p, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** StorageDriver backed by sparse ext4 images on loop devices (see the file comment). */
export class LoopVolumeBackend implements StorageDriver {
  /** `<stateDir>/volumes`: the image files of volumes made before the copy-on-write pool (and all of them when the state directory clones). */
  readonly imagesDir: string;
  /** `<runDir>/volumes`: mount points of acquired volumes. */
  readonly mountsDir: string;
  private readonly uidBase: number;
  private readonly runner: CommandRunner;
  private readonly directIo: boolean;
  private readonly log: StorageLogger;
  private readonly disk: Pick<DiskBudget, "withVolume" | "countGrowth">;
  private readonly stateDir: string;
  private readonly runDir: string;
  private readonly forcePool: boolean;
  private opening: Promise<CowPool> | undefined;
  /**
   * Bytes of each volume's image that a snapshot shares (measured when that changes: snapshot,
   * snapshot delete, start): rewriting them takes new space, so they count as promised growth.
   */
  private readonly shared = new Map<string, number>();
  private cow: CowPool | undefined;
  private readonly locks = new KeyedMutex();
  private readonly acquired = new Map<string, AcquiredVolume>();
  /** Volumes whose loop device was still in use when they were released (volume id → device). */
  private readonly draining = new Map<string, string>();

  constructor(options: LoopVolumeBackendOptions) {
    if (!Number.isInteger(options.uidBase) || options.uidBase < 0) {
      throw new RangeError(`uidBase must be a non-negative integer, got ${options.uidBase}`);
    }
    this.imagesDir = path.join(path.resolve(options.stateDir), "volumes");
    this.mountsDir = path.join(path.resolve(options.runDir), "volumes");
    this.uidBase = options.uidBase;
    this.runner = options.runner;
    this.directIo = options.directIo ?? true;
    this.log = options.logger ?? silentLogger;
    this.disk = options.disk ?? new DiskBudget({ stateDir: options.stateDir, runner: options.runner, reserveBytes: 0 });
    this.stateDir = options.stateDir;
    this.runDir = options.runDir;
    this.forcePool = options.forcePool ?? false;
  }

  /**
   * Opens the copy-on-write pool (cow-pool.ts) once; every operation awaits it first. Its
   * not-yet-written blocks count in the disk budget from then on.
   */
  pool(): Promise<CowPool> {
    this.opening ??= CowPool.open({ stateDir: this.stateDir, runDir: this.runDir, runner: this.runner, logger: this.log, forcePool: this.forcePool }).then(
      (cow) => {
        this.cow = cow;
        this.disk.countGrowth("cow-pool", async () => {
          let promised = await cow.growthBytes();
          for (const bytes of this.shared.values()) promised += bytes;
          return promised;
        });
        return cow;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  /** The open pool (after any operation, or pool()). */
  protected get home(): CowPool {
    if (!this.cow) throw new DaemonError("HOST_NOT_READY", "the volume pool is not open yet");
    return this.cow;
  }

  /**
   * Path of a volume's image file: in the pool, or where a volume made before the pool has it
   * (such a volume keeps working there; snapshots of it are full copies: docs/snapshots.md).
   */
  imagePath(volumeId: string): string {
    assertVolumeId(volumeId);
    const inPool = path.join(this.home.volumesDir, volumeId + IMAGE_SUFFIX);
    const legacy = path.join(this.imagesDir, volumeId + IMAGE_SUFFIX);
    return inPool !== legacy && !existsSync(inPool) && existsSync(legacy) ? legacy : inPool;
  }

  /** Daemon shutdown, after every volume was released: unmounts the pool. */
  async close(): Promise<void> {
    const cow = this.cow;
    this.cow = undefined;
    this.opening = undefined;
    await cow?.close();
  }

  /** Where the volume is mounted while acquired. */
  mountPath(volumeId: string): string {
    assertVolumeId(volumeId);
    return path.join(this.mountsDir, volumeId);
  }

  /** Number of holders of a volume's mount (0 when not mounted). */
  references(volumeId: string): number {
    return this.acquired.get(volumeId)?.refs ?? 0;
  }

  /**
   * Creates the volume's image: checks the host has room for `capacityBytes` (the disk budget:
   * CapacityError / INSUFFICIENT_STORAGE), allocates the file in full (so a
   * neighbour filling the host can never make this volume's writes fail) and formats it with the
   * root directory owned by sandbox `app` (host uidBase+1000), mode 0755, and inodes for many
   * small files (inode-sizing.ts). On failure the partial image is removed.
   */
  async create(volumeId: string, capacityBytes: number): Promise<void> {
    await this.pool();
    const image = this.imagePath(volumeId);
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) {
      throw new RangeError(`volume capacity must be a positive integer of bytes, got ${capacityBytes}`);
    }
    await this.locks.run(volumeId, async () => {
      if (await exists(image)) throw new VolumeBackingExistsError(volumeId);
      const make = async () => {
        const owner = this.uidBase + APP_ID;
        await createExt4Image(this.runner, image, capacityBytes, {
          rootOwner: { uid: owner, gid: owner },
          allocate: true,
          inodeCount: inodeCountFor(capacityBytes),
          // Always 4 KiB blocks (mke2fs picks 1 KiB under 512 MiB): once a snapshot shares its
          // extents, direct I/O to the image needs whole 4 KiB blocks (XFS), and the loop device
          // takes that as its sector size, on which a 1 KiB-block ext4 cannot mount.
          blockSize: 4096,
        });
        try {
          await syncFileAndDir(image);
        } catch (error) {
          await removeImage(image);
          throw error;
        }
      };
      await this.disk.withVolume(capacityBytes, image, make);
      this.log.info({ volumeId, capacityBytes }, "volume image created");
    });
  }

  /**
   * Waits a moment for a previous, lazily unmounted use of the image to let go of its loop
   * device: a process that held a file open on a force-detached volume releases it
   * asynchronously after it exits (deferred fput, then loop autoclear). Returns the device if
   * it is still held after DRAIN_WAIT_MS, else undefined.
   */
  private async drained(image: string): Promise<string | undefined> {
    const deadline = Date.now() + DRAIN_WAIT_MS;
    for (;;) {
      const lingering = await findLoopDevicesForFile(image);
      if (!lingering[0]) return undefined;
      if (Date.now() >= deadline) return lingering[0].device;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Removes the volume's image (its blocks are freed at once). Refuses with
   * VolumeAcquiredError while mounted. Deleting a volume without an image is a no-op.
   */
  async delete(volumeId: string): Promise<void> {
    await this.pool();
    const image = this.imagePath(volumeId);
    await this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (held) throw new VolumeAcquiredError(volumeId, held.refs);
      const lingering = await this.drained(image);
      if (lingering) throw new VolumeStillDetachingError(volumeId, lingering);
      await this.home.removeImage(image);
      this.shared.delete(volumeId);
      await rmdir(this.mountPath(volumeId)).catch(() => undefined);
      this.log.info({ volumeId }, "volume image deleted");
    });
  }

  /**
   * Mounts the volume at `<runDir>/volumes/<id>` (loop device + ext4 mount with
   * noatime,nosuid,nodev) on the first reference, and returns that path.
   */
  async acquire(volumeId: string): Promise<string> {
    await this.pool();
    const image = this.imagePath(volumeId);
    const mountPoint = this.mountPath(volumeId);
    return this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (held) {
        held.refs += 1;
        return held.mountPoint;
      }
      if (!(await exists(image))) throw new VolumeBackingMissingError(volumeId);
      await mkdir(this.mountsDir, { recursive: true, mode: 0o700 });
      await mkdir(mountPoint, { recursive: true, mode: 0o755 });
      if (await isMountPoint(mountPoint)) {
        throw new DaemonError("HOST_NOT_READY", `${mountPoint} is already a mount point that this backend does not own; run reconcile`);
      }
      // Only a volume whose last release left its loop device draining needs the (slow, host-wide)
      // loop device scan; attachLoop itself still refuses an image that is already attached.
      if (this.draining.has(volumeId)) {
        const lingering = await this.drained(image);
        if (lingering) throw new VolumeStillDetachingError(volumeId, lingering);
        this.draining.delete(volumeId);
      }
      let device: string;
      try {
        // A volume made with 1 KiB blocks (small, before the pool) gets 512-byte sectors: the
        // kernel would give a cloned image 4 KiB ones (direct I/O alignment), too big for it.
        const small = (await ext4BlockSize(image)) < 4096;
        device = await attachLoop(this.runner, image, { directIo: this.directIo, ...(small ? { sectorSize: 512 as const } : {}) });
      } catch (error) {
        if (error instanceof LoopAlreadyAttachedError) throw new VolumeStillDetachingError(volumeId, error.device, { cause: error });
        throw error;
      }
      try {
        await mount(this.runner, "ext4", device, mountPoint, VOLUME_MOUNT_OPTIONS);
      } catch (error) {
        await detachLoop(this.runner, device).catch((e: unknown) => this.log.error({ volumeId, device, err: e }, "loop detach failed"));
        await rmdir(mountPoint).catch(() => undefined);
        throw error;
      }
      await adoptLostAndFound(mountPoint, this.uidBase + APP_ID).catch((err: unknown) =>
        this.log.warn({ volumeId, err }, "could not give lost+found to the volume's owner"),
      );
      this.acquired.set(volumeId, { refs: 1, device, mountPoint });
      this.log.info({ volumeId, device, mountPoint }, "volume mounted");
      return mountPoint;
    });
  }

  /**
   * Drops one reference; the last one unmounts the volume and detaches its loop device. If a
   * process still holds a file on it, the unmount is lazy and the loop device frees itself
   * when that process lets go (until then `acquire` and `delete` report VOLUME_BUSY).
   */
  async release(volumeId: string): Promise<void> {
    assertVolumeId(volumeId);
    await this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (!held || held.refs <= 0) {
        this.log.warn({ volumeId }, "release of a volume that is not acquired");
        return;
      }
      held.refs -= 1;
      if (held.refs > 0) return;
      try {
        await umount(this.runner, held.mountPoint);
      } catch (error) {
        if (!isBusyError(error)) throw error; // stays in `acquired` with 0 refs: still mounted
        this.log.warn({ volumeId, mountPoint: held.mountPoint }, "volume busy at release; unmounting lazily");
        await umount(this.runner, held.mountPoint, { lazy: true });
      }
      this.acquired.delete(volumeId);
      await detachLoop(this.runner, held.device);
      // A file still open through a sandbox's (lazily detached) bind keeps the filesystem and so
      // the loop device alive until it is closed: remember that, for the next acquire.
      if (await isLoopBound(held.device)) this.draining.set(volumeId, held.device);
      await rmdir(held.mountPoint).catch(() => undefined);
      this.log.info({ volumeId, device: held.device }, "volume unmounted");
    });
  }

  /**
   * Used and nominal bytes and inodes of a volume. Mounted: statfs of the mount. Not mounted:
   * the superblock counters of the image, which give the same numbers statfs gives once mounted.
   * capacityBytes is the size the volume was created with (the image's apparent size).
   */
  async usage(volumeId: string): Promise<VolumeUsage> {
    await this.pool();
    const image = this.imagePath(volumeId);
    return this.locks.run(volumeId, async () => {
      let capacityBytes: number;
      try {
        capacityBytes = (await stat(image)).size;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new VolumeBackingMissingError(volumeId, { cause: error });
        throw error;
      }
      const held = this.acquired.get(volumeId);
      if (held) {
        const fs = await statfsUsage(held.mountPoint);
        return { usedBytes: fs.usedBytes, capacityBytes, usedInodes: fs.totalInodes - fs.freeInodes, inodeCapacity: fs.totalInodes };
      }
      const sb = await readExt4Superblock(this.runner, image);
      return { usedBytes: usedBytesOf(sb), capacityBytes, usedInodes: sb.inodeCount - sb.freeInodes, inodeCapacity: sb.inodeCount };
    });
  }

  /** The image's apparent size minus the blocks it has; 0 for a vanished image. */
  async unallocatedBytes(volumeId: string): Promise<number> {
    await this.pool();
    const st = await stat(this.imagePath(volumeId)).catch(() => undefined);
    return st ? Math.max(0, st.size - st.blocks * 512) : 0;
  }

  /** Bytes available on the filesystem holding the images (statfs f_bavail of the state dir). */
  async freeBytes(): Promise<number> {
    const dir = (await exists(this.imagesDir)) ? this.imagesDir : path.dirname(this.imagesDir);
    return (await statfsUsage(dir)).availableBytes;
  }

  /**
   * Takes a read-only, point-in-time snapshot of a volume (snapshot-images.ts): while it is
   * mounted, its filesystem is frozen (flushed, writers blocked) for the clone and thawed on
   * every path; otherwise its lock keeps it unmounted meanwhile. A volume outside the pool is
   * copied in full.
   */
  async snapshot(volumeId: string, snapshotId: string): Promise<void> {
    const cow = await this.pool();
    const target = snapshotImage(cow.snapshotsDir, snapshotId);
    await this.locks.run(volumeId, async () => {
      const image = this.imagePath(volumeId);
      if (!(await exists(image))) throw new VolumeBackingMissingError(volumeId);
      if (await exists(target)) throw new SnapshotBackingExistsError(snapshotId);
      const clone = path.dirname(image) === cow.volumesDir;
      const held = this.acquired.get(volumeId);
      const write = () => writeSnapshotImage({ runner: this.runner, log: this.log }, image, target, clone);
      if (held) await withFrozen(this.runner, held.mountPoint, write);
      else await write();
      await syncFileAndDir(target);
      await this.measureShared(volumeId, image);
      this.log.info({ volumeId, snapshotId, mounted: held !== undefined }, "snapshot taken");
    });
  }

  /** Removes a snapshot's image; a missing one is a no-op. The volume it came from is not touched. */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    const cow = await this.pool();
    await cow.removeImage(snapshotImage(cow.snapshotsDir, snapshotId));
    // Volumes that shared blocks with it may hold them alone now.
    for (const volumeId of [...this.shared.keys()]) {
      await this.locks.run(volumeId, () => this.measureShared(volumeId, this.imagePath(volumeId))).catch((err: unknown) =>
        this.log.warn({ volumeId, err }, "could not measure a volume's shared blocks"),
      );
    }
    this.log.info({ snapshotId }, "snapshot deleted");
  }

  /**
   * Creates a volume from a snapshot (cloneSnapshotImage), admitted by the disk budget like a
   * new volume: its holes are allocated, its shared blocks promised.
   */
  async createFrom(volumeId: string, snapshotId: string, capacityBytes: number): Promise<void> {
    const cow = await this.pool();
    const source = snapshotImage(cow.snapshotsDir, snapshotId);
    const image = this.imagePath(volumeId);
    await this.locks.run(volumeId, async () => {
      if (await exists(image)) throw new VolumeBackingExistsError(volumeId);
      const from = await snapshotCapacity(source, snapshotId);
      if (!Number.isSafeInteger(capacityBytes) || capacityBytes < from) {
        throw new RangeError(`a volume made from snapshot ${snapshotId} needs at least ${from} bytes, got ${capacityBytes}`);
      }
      await this.disk.withVolume(capacityBytes, image, () => cloneSnapshotImage(this.runner, source, image, capacityBytes));
      await syncFileAndDir(image);
      await this.measureShared(volumeId, image);
      this.log.info({ volumeId, snapshotId, capacityBytes }, "volume created from a snapshot");
    });
  }

  /** Rolls a volume that is not mounted back to a snapshot (its image replaced in one rename). */
  async restore(volumeId: string, snapshotId: string): Promise<void> {
    const cow = await this.pool();
    const source = snapshotImage(cow.snapshotsDir, snapshotId);
    await this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (held) throw new VolumeAcquiredError(volumeId, held.refs);
      const image = this.imagePath(volumeId);
      let capacityBytes: number;
      try {
        capacityBytes = (await stat(image)).size;
      } catch (error) {
        throw new VolumeBackingMissingError(volumeId, { cause: error });
      }
      if ((await snapshotCapacity(source, snapshotId)) > capacityBytes) {
        throw new RangeError(`snapshot ${snapshotId} is larger than volume ${volumeId}`);
      }
      // Into the pool, whatever the old image's place: it is the volume's image from now on.
      const target = path.join(cow.volumesDir, volumeId + IMAGE_SUFFIX);
      await this.disk.withVolume(capacityBytes, `${target}.part`, () => cloneSnapshotImage(this.runner, source, target, capacityBytes));
      if (image !== target) await removeImage(image);
      await syncFileAndDir(target);
      await this.measureShared(volumeId, target);
      this.log.info({ volumeId, snapshotId }, "volume restored from a snapshot");
    });
  }

  /** Records the bytes of `volumeId`'s image a snapshot shares (none: forgotten). */
  private async measureShared(volumeId: string, image: string): Promise<void> {
    const bytes = (await exists(image)) ? await sharedBytes(this.runner, image) : 0;
    if (bytes > 0) this.shared.set(volumeId, bytes);
    else this.shared.delete(volumeId);
  }

  /** A snapshot's capacity (its volume's when taken) and the bytes only it holds (FIEMAP). */
  async snapshotUsage(snapshotId: string): Promise<SnapshotUsage> {
    const cow = await this.pool();
    const image = snapshotImage(cow.snapshotsDir, snapshotId);
    const capacityBytes = await snapshotCapacity(image, snapshotId);
    return { capacityBytes, allocatedBytes: await exclusiveBytes(this.runner, image) };
  }

  /**
   * At daemon start, after the runtime removed sandbox mounts: thaws and unmounts everything
   * under `<runDir>/volumes` (a daemon killed mid-snapshot leaves a volume frozen), detaches loop
   * devices backed by images, checks every known image with `e2fsck -p` (falling back to `-fy`
   * if preen gives up), and deletes images of unknown ids, half-made snapshots and (when
   * `knownSnapshots` is given) images of unknown snapshots.
   */
  async reconcile(known: ReadonlySet<string>, knownSnapshots?: ReadonlySet<string>): Promise<void> {
    const cow = await this.pool();
    if (this.acquired.size > 0) {
      this.log.warn({ volumes: [...this.acquired.keys()] }, "reconcile drops volumes this backend had mounted");
      this.acquired.clear();
    }
    await mkdir(this.mountsDir, { recursive: true, mode: 0o700 });
    for (const m of mountsUnder(await readMountInfo(), await realpath(this.mountsDir))) {
      if (await thaw(this.runner, m.mountPoint)) this.log.warn({ mountPoint: m.mountPoint }, "thawed a volume left frozen");
    }
    const unmounted = await umountTree(this.runner, this.mountsDir, { lazy: true });
    if (unmounted.length > 0) this.log.warn({ mounts: unmounted }, "unmounted leftover volume mounts");
    const dirs = [...new Set([cow.volumesDir, this.imagesDir, cow.snapshotsDir])];
    await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
    const leftovers = async () => (await Promise.all(dirs.map((d) => findLoopDevicesUnder(d)))).flat();
    for (const loop of await leftovers()) {
      this.log.warn({ device: loop.device, image: loop.backingFile }, "detaching leftover loop device");
      await detachLoop(this.runner, loop.device);
    }
    // A loop device still attached now is held by someone (e.g. a bind elsewhere): the
    // filesystem is live, so checking or deleting its image would be unsafe.
    const stillAttached = new Set((await leftovers()).map((d) => d.backingFile));

    const seen = new Set<string>();
    for (const dir of new Set([cow.volumesDir, this.imagesDir])) {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(dir, entry.name);
        const id = entry.name.endsWith(IMAGE_SUFFIX) ? entry.name.slice(0, -IMAGE_SUFFIX.length) : undefined;
        if (stillAttached.has(file)) {
          this.log.error({ file }, "image still attached to a busy loop device; not checked");
          if (id !== undefined) seen.add(id);
          continue;
        }
        if (id === undefined || !known.has(id) || seen.has(id)) {
          this.log.warn({ file }, "removing image of an unknown volume");
          await removeImage(file);
          continue;
        }
        seen.add(id);
        await checkImage(this.runner, this.log, id, file);
        await allocateInFull({ log: this.log, disk: this.disk, runner: this.runner }, id, file);
        if (dir === cow.volumesDir) await this.measureShared(id, file);
      }
    }
    for (const id of known) {
      if (!seen.has(id)) this.log.error({ volumeId: id }, "known volume has no image");
    }
    await reconcileSnapshotImages(this.log, cow.snapshotsDir, knownSnapshots);
    for (const entry of await readdir(this.mountsDir, { withFileTypes: true })) {
      if (entry.isDirectory()) await rmdir(path.join(this.mountsDir, entry.name)).catch(() => undefined);
    }
  }
}
