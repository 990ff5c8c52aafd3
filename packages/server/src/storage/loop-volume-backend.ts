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
import { mkdir, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import type { SnapshotUsage, StorageDriver, VolumeUsage } from "../core/drivers.js";
import { DiskBudget } from "../host/disk-budget.js";
import { createExt4Image, ext4BlockSize, readExt4Superblock, removeImage, usedBytesOf } from "../host/ext4-image.js";
import { inodeCountFor } from "../host/inode-sizing.js";
import { KeyedMutex } from "../host/keyed-mutex.js";
import type { CommandRunner } from "../host/run-command.js";
import { LoopAlreadyAttachedError, attachLoop, detachLoop, findLoopDevicesForFile, isLoopBound } from "../host/loop-device.js";
import { isBusyError, isMountPoint, mount, statfsUsage, umount } from "../host/mounts.js";
import { VolumeAcquiredError, VolumeBackingExistsError, VolumeBackingMissingError, VolumeStillDetachingError } from "./storage-errors.js";
import { adoptLostAndFound } from "./volume-root.js";
import { exists, IMAGE_SUFFIX, syncFileAndDir } from "./image-files.js";
import { VolumeSnapshots } from "./volume-snapshots.js";
import { SnapshotBackingMissingError, snapshotImage } from "./snapshot-images.js";
import { assertTreeFits, fillFromTree, treeBytes } from "./bootable-volume.js";
import { reconcileVolumes } from "./volume-reconcile.js";
import { DaemonError } from "../daemon-error.js";
import { CowPool } from "./cow-pool.js";
import { crashPoint } from "../crash-points.js";

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
  /** Behave as a host without the pool's tools: plain images, snapshots copied in full (tests). */
  noPool?: boolean;
}

/** Per-mount options of a volume's host mount. */
export const VOLUME_MOUNT_OPTIONS = ["noatime", "nosuid", "nodev", "errors=remount-ro"] as const;

/** uid/gid of the `app` user inside sandboxes. */
const APP_ID = 1000;
/** Volume ids become file names: keep them to a safe alphabet. */
const VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** How long acquire/delete wait for a draining loop device before answering VOLUME_BUSY. */
const DRAIN_WAIT_MS = 3000;

interface AcquiredVolume {
  refs: number;
  device: string;
  mountPoint: string;
  /** A snapshot's read-only mount: kept a while after its last release (SNAPSHOT_LINGER_MS). */
  readOnly?: boolean;
}

/**
 * How long a snapshot's read-only mount stays after its last holder let go: a snapshot booted
 * from (`root`) usually starts many sandboxes, and mounting it again costs a loop device and an
 * ext4 mount on each create. Deleting the snapshot or closing the backend unmounts it at once.
 */
const SNAPSHOT_LINGER_MS = 30_000;

const silentLogger: StorageLogger = {
  info: () => undefined,
  warn: (obj, msg) => console.warn(msg ?? "", obj),
  error: (obj, msg) => console.error(msg ?? "", obj),
};

function assertVolumeId(volumeId: string): void {
  if (!VOLUME_ID.test(volumeId)) throw new RangeError(`invalid volume id ${JSON.stringify(volumeId)}`);
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
  private readonly noPool: boolean;
  private opening: Promise<CowPool> | undefined;
  /**
   * Bytes of each volume's image that a snapshot shares (measured when that changes: snapshot,
   * snapshot delete, start): rewriting them takes new space, so they count as promised growth.
   */
  private readonly shared = new Map<string, number>();
  private readonly snapshots: VolumeSnapshots;
  private cow: CowPool | undefined;
  private readonly locks = new KeyedMutex();
  private readonly acquired = new Map<string, AcquiredVolume>();
  /** Snapshots mounted with no holder, and the timer that unmounts each (SNAPSHOT_LINGER_MS). */
  private readonly lingering = new Map<string, NodeJS.Timeout>();
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
    this.noPool = options.noPool ?? false;
    this.snapshots = new VolumeSnapshots({
      runner: this.runner,
      log: this.log,
      disk: this.disk,
      locks: this.locks,
      acquired: this.acquired,
      shared: this.shared,
      pool: () => this.pool(),
      imagePath: (id) => this.imagePath(id),
      unmountIdle: (id) => this.unmountIdle(id),
    });
  }

  /**
   * Opens the copy-on-write pool (cow-pool.ts) once; every operation awaits it first. Its
   * not-yet-written blocks count in the disk budget from then on.
   */
  pool(): Promise<CowPool> {
    this.opening ??= CowPool.open({
      stateDir: this.stateDir,
      runDir: this.runDir,
      runner: this.runner,
      logger: this.log,
      forcePool: this.forcePool,
      noPool: this.noPool,
    }).then(
      (cow) => {
        this.cow = cow;
        this.disk.countGrowth("cow-pool", () => this.promisedBytes(cow));
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
    for (const id of [...this.lingering.keys()]) await this.locks.run(id, () => this.unmountIdle(id));
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
          afterStep: (step) => crashPoint(step === "image" ? "volume.create.after-image" : "volume.create.after-mkfs"),
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
   * A bootable volume (bootable-volume.ts): a new volume holding a copy of the root filesystem
   * `tree`. INVALID_ARGUMENT when `capacityBytes` is too small for it; on failure nothing is left.
   */
  async createFromTree(volumeId: string, capacityBytes: number, tree: string, what: string): Promise<void> {
    assertTreeFits(capacityBytes, await treeBytes(this.runner, tree), what);
    await this.create(volumeId, capacityBytes);
    try {
      const at = await this.acquire(volumeId);
      try {
        await fillFromTree(this.runner, at, tree, this.uidBase);
      } finally {
        await this.release(volumeId);
      }
    } catch (error) {
      await this.delete(volumeId).catch((err: unknown) => this.log.error({ volumeId, err }, "removing a half-filled bootable volume failed"));
      throw error;
    }
    this.log.info({ volumeId, tree }, "bootable volume filled");
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
    return this.mountImage(volumeId, this.imagePath(volumeId), false);
  }

  /**
   * Mounts a snapshot read-only (a read-only loop device, ext4 `ro,noload`: nothing can write its
   * image) at `<runDir>/volumes/<snapshotId>`, reference counted like a volume; `release` drops a
   * reference. The snapshot must not be deleted meanwhile (deleteSnapshot refuses).
   */
  async acquireSnapshot(snapshotId: string): Promise<string> {
    assertVolumeId(snapshotId);
    const cow = await this.pool();
    return this.mountImage(snapshotId, snapshotImage(cow.snapshotsDir, snapshotId), true);
  }

  /** The first reference mounts `image` at mountPath(id); later ones count. */
  private async mountImage(volumeId: string, image: string, readOnly: boolean): Promise<string> {
    const mountPoint = this.mountPath(volumeId);
    return this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (held) {
        held.refs += 1;
        clearTimeout(this.lingering.get(volumeId));
        this.lingering.delete(volumeId);
        return held.mountPoint;
      }
      if (!(await exists(image))) throw readOnly ? new SnapshotBackingMissingError(volumeId) : new VolumeBackingMissingError(volumeId);
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
        // A volume with 1 KiB blocks (mke2fs's choice under 512 MiB) gets 512-byte sectors: once a
        // snapshot shares its extents, XFS wants direct I/O in whole 4 KiB blocks, and the kernel
        // would give the loop device that sector size, on which a 1 KiB-block ext4 cannot mount
        // (with 512-byte sectors the loop device reads and writes such an image through the page cache).
        const small = (await ext4BlockSize(image)) < 4096;
        device = await attachLoop(this.runner, image, { directIo: this.directIo, readOnly, ...(small ? { sectorSize: 512 as const } : {}) });
      } catch (error) {
        if (error instanceof LoopAlreadyAttachedError) throw new VolumeStillDetachingError(volumeId, error.device, { cause: error });
        throw error;
      }
      try {
        await mount(this.runner, "ext4", device, mountPoint, readOnly ? ["ro", "noload", ...VOLUME_MOUNT_OPTIONS] : VOLUME_MOUNT_OPTIONS);
      } catch (error) {
        await detachLoop(this.runner, device).catch((e: unknown) => this.log.error({ volumeId, device, err: e }, "loop detach failed"));
        await rmdir(mountPoint).catch(() => undefined);
        throw error;
      }
      if (!readOnly) {
        await adoptLostAndFound(mountPoint, this.uidBase + APP_ID).catch((err: unknown) =>
          this.log.warn({ volumeId, err }, "could not give lost+found to the volume's owner"),
        );
      }
      this.acquired.set(volumeId, { refs: 1, device, mountPoint, ...(readOnly ? { readOnly } : {}) });
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
      if (held.readOnly) {
        const timer = setTimeout(() => {
          void this.locks
            .run(volumeId, () => this.unmountIdle(volumeId))
            .catch((err: unknown) => this.log.warn({ volumeId, err }, "unmounting an idle snapshot failed"));
        }, SNAPSHOT_LINGER_MS);
        timer.unref();
        this.lingering.set(volumeId, timer);
        return;
      }
      await this.unmount(volumeId, held);
    });
  }

  /** A snapshot mounted with no holder is unmounted now (under its lock); anything else is left alone. */
  private async unmountIdle(volumeId: string): Promise<void> {
    clearTimeout(this.lingering.get(volumeId));
    this.lingering.delete(volumeId);
    const held = this.acquired.get(volumeId);
    if (held && held.refs === 0 && held.readOnly) await this.unmount(volumeId, held);
  }

  /** Unmounts a volume or snapshot nobody holds and detaches its loop device (caller holds its lock). */
  private async unmount(volumeId: string, held: AcquiredVolume): Promise<void> {
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
      // Only images that shared blocks when last measured are measured again (one FIEMAP read).
      if (this.shared.has(volumeId)) await this.snapshots.measureShared(volumeId, image);
      const shared = this.shared.has(volumeId) ? { sharedBytes: this.shared.get(volumeId) } : {};
      const held = this.acquired.get(volumeId);
      if (held) {
        const fs = await statfsUsage(held.mountPoint);
        return { usedBytes: fs.usedBytes, capacityBytes, usedInodes: fs.totalInodes - fs.freeInodes, inodeCapacity: fs.totalInodes, ...shared };
      }
      const sb = await readExt4Superblock(this.runner, image);
      return { usedBytes: usedBytesOf(sb), capacityBytes, usedInodes: sb.inodeCount - sb.freeInodes, inodeCapacity: sb.inodeCount, ...shared };
    });
  }

  /** The image's apparent size minus the blocks it has; 0 for a vanished image. */
  async unallocatedBytes(volumeId: string): Promise<number> {
    await this.pool();
    const st = await stat(this.imagePath(volumeId)).catch(() => undefined);
    return st ? Math.max(0, st.size - st.blocks * 512) : 0;
  }

  /**
   * Host bytes the pool has promised and not taken yet: blocks given to volumes but not written
   * on the host, and blocks volumes share with snapshots (each may still need its own copy).
   */
  private async promisedBytes(cow: CowPool): Promise<number> {
    let promised = await cow.growthBytes();
    for (const bytes of this.shared.values()) promised += bytes;
    return promised;
  }

  /**
   * Bytes of the host filesystem holding the images that are free and not promised to a volume
   * (statfs f_bavail of the state dir, minus the pool's promised growth): a volume takes its
   * size from this at once, though the pool's blocks reach the host only as they are written.
   */
  async freeBytes(): Promise<number> {
    const dir = (await exists(this.imagesDir)) ? this.imagesDir : path.dirname(this.imagesDir);
    const free = (await statfsUsage(dir)).availableBytes;
    return Math.max(0, free - (this.cow ? await this.promisedBytes(this.cow) : 0));
  }

  /** See VolumeSnapshots.snapshot (volume-snapshots.ts). */
  snapshot(volumeId: string, snapshotId: string): Promise<void> {
    return this.snapshots.snapshot(volumeId, snapshotId);
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return this.snapshots.deleteSnapshot(snapshotId);
  }

  createFrom(volumeId: string, snapshotId: string, capacityBytes: number): Promise<void> {
    return this.snapshots.createFrom(volumeId, snapshotId, capacityBytes);
  }

  restore(volumeId: string, snapshotId: string): Promise<void> {
    return this.snapshots.restore(volumeId, snapshotId);
  }

  /** Where a snapshot's image is (volume exports mount it read-only: backup/tar-backup-driver.ts). */
  async snapshotImagePath(snapshotId: string): Promise<string> {
    return snapshotImage((await this.pool()).snapshotsDir, snapshotId);
  }

  snapshotUsage(snapshotId: string): Promise<SnapshotUsage> {
    return this.snapshots.snapshotUsage(snapshotId);
  }

  /** At daemon start: see reconcileVolumes (volume-reconcile.ts). */
  reconcile(known: ReadonlySet<string>, inUse: ReadonlyMap<string, number> = new Map(), knownSnapshots?: ReadonlySet<string>): Promise<void> {
    return reconcileVolumes(
      {
        runner: this.runner,
        log: this.log,
        disk: this.disk,
        acquired: this.acquired,
        imagesDir: this.imagesDir,
        mountsDir: this.mountsDir,
        pool: () => this.pool(),
        measureShared: (id, image) => this.snapshots.measureShared(id, image),
        imagePath: (id) => this.imagePath(id),
        mountPath: (id) => this.mountPath(id),
      },
      known,
      inUse,
      knownSnapshots,
    );
  }
}
