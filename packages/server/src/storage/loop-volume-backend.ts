/**
 * The volume storage backend of a single host: every volume is a sparse ext4 image file
 * (`<stateDir>/volumes/<id>.img`) that is attached to a loop device and mounted once at
 * `<runDir>/volumes/<id>` while any sandbox uses it (reference counted). The runtime
 * bind-mounts that directory into sandboxes read-write or read-only.
 *
 * Concurrency: every operation on one volume runs under that volume's lock (KeyedMutex), so
 * concurrent acquire/release/delete of the same volume are serialised; different volumes
 * proceed in parallel.
 */
import { mkdir, open, readdir, realpath, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import type { StorageDriver, VolumeUsage } from "../core/drivers.js";
import { DiskBudget } from "../host/disk-budget.js";
import { createExt4Image, readExt4Superblock, removeImage, usedBytesOf } from "../host/ext4-image.js";
import { inodeCountFor } from "../host/inode-sizing.js";
import { KeyedMutex } from "../host/keyed-mutex.js";
import type { CommandRunner } from "../host/run-command.js";
import { LoopAlreadyAttachedError, attachLoop, detachLoop, findLoopDevicesForFile, isLoopBound, findLoopDevicesUnder } from "../host/loop-device.js";
import { isBusyError, isMountPoint, mount, mountsUnder, readMountInfo, statfsUsage, umount, umountTree } from "../host/mounts.js";
import { VolumeAcquiredError, VolumeBackingExistsError, VolumeBackingMissingError, VolumeStillDetachingError } from "./storage-errors.js";
import { allocateInFull, checkImage } from "./image-upkeep.js";
import { adoptLostAndFound } from "./volume-root.js";
import { DaemonError } from "../daemon-error.js";
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
  disk?: Pick<DiskBudget, "withVolume">;
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
  /** `<stateDir>/volumes`: the image files. */
  readonly imagesDir: string;
  /** `<runDir>/volumes`: mount points of acquired volumes. */
  readonly mountsDir: string;
  private readonly uidBase: number;
  private readonly runner: CommandRunner;
  private readonly directIo: boolean;
  private readonly log: StorageLogger;
  private readonly disk: Pick<DiskBudget, "withVolume">;
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
  }

  /** Path of a volume's image file. */
  imagePath(volumeId: string): string {
    assertVolumeId(volumeId);
    return path.join(this.imagesDir, volumeId + IMAGE_SUFFIX);
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
    const image = this.imagePath(volumeId);
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) {
      throw new RangeError(`volume capacity must be a positive integer of bytes, got ${capacityBytes}`);
    }
    await this.locks.run(volumeId, async () => {
      await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
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
    const image = this.imagePath(volumeId);
    await this.locks.run(volumeId, async () => {
      const held = this.acquired.get(volumeId);
      if (held) throw new VolumeAcquiredError(volumeId, held.refs);
      const lingering = await this.drained(image);
      if (lingering) throw new VolumeStillDetachingError(volumeId, lingering);
      await removeImage(image);
      await rmdir(this.mountPath(volumeId)).catch(() => undefined);
      this.log.info({ volumeId }, "volume image deleted");
    });
  }

  /**
   * Mounts the volume at `<runDir>/volumes/<id>` (loop device + ext4 mount with
   * noatime,nosuid,nodev) on the first reference, and returns that path.
   */
  async acquire(volumeId: string): Promise<string> {
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
        device = await attachLoop(this.runner, image, { directIo: this.directIo });
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
    const st = await stat(this.imagePath(volumeId)).catch(() => undefined);
    return st ? Math.max(0, st.size - st.blocks * 512) : 0;
  }

  /** Bytes available on the filesystem holding the images (statfs f_bavail of the state dir). */
  async freeBytes(): Promise<number> {
    const dir = (await exists(this.imagesDir)) ? this.imagesDir : path.dirname(this.imagesDir);
    return (await statfsUsage(dir)).availableBytes;
  }

  /**
   * Registers the volumes in `inUse` that are still mounted on their loop device with that many
   * references; returns the file names of their images.
   */
  private async adoptMounted(inUse: ReadonlyMap<string, number>): Promise<Set<string>> {
    const kept = new Set<string>();
    if (inUse.size === 0) return kept;
    const loops = await findLoopDevicesUnder(this.imagesDir);
    for (const [volumeId, refs] of inUse) {
      const name = path.basename(this.imagePath(volumeId));
      const loop = loops.find((l) => path.basename(l.backingFile) === name);
      const mountPoint = this.mountPath(volumeId);
      if (!loop || refs < 1 || !(await isMountPoint(mountPoint))) {
        this.log.warn({ volumeId }, "a volume of an adopted sandbox is not mounted any more");
        continue;
      }
      this.acquired.set(volumeId, { refs, device: loop.device, mountPoint });
      kept.add(name);
    }
    return kept;
  }

  /** Unmounts what is under the mounts directory except the volumes adopted by adoptMounted. */
  private async umountStray(): Promise<string[]> {
    const dir = await realpath(this.mountsDir);
    const keep = [...this.acquired.keys()].map((id) => path.join(dir, id));
    const done: string[] = [];
    for (const m of mountsUnder(await readMountInfo(), dir)) {
      if (keep.some((k) => m.mountPoint === k || m.mountPoint.startsWith(`${k}/`))) continue;
      await umount(this.runner, m.mountPoint, { lazy: true });
      done.push(m.mountPoint);
    }
    return done;
  }

  /**
   * At daemon start, after the runtime removed sandbox mounts: unmounts everything under
   * `<runDir>/volumes`, detaches loop devices backed by images, checks every known image with
   * `e2fsck -p` (falling back to `-fy` if preen gives up), and deletes images of unknown ids.
   */
  async reconcile(known: ReadonlySet<string>, inUse: ReadonlyMap<string, number> = new Map()): Promise<void> {
    if (this.acquired.size > 0) {
      this.log.warn({ volumes: [...this.acquired.keys()] }, "reconcile drops volumes this backend had mounted");
      this.acquired.clear();
    }
    await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
    await mkdir(this.mountsDir, { recursive: true, mode: 0o700 });

    // Volumes of sandboxes a previous daemon run left running (issue 13): mount and loop device stay.
    const keptImages = await this.adoptMounted(inUse);
    const unmounted = keptImages.size === 0 ? await umountTree(this.runner, this.mountsDir, { lazy: true }) : await this.umountStray();
    if (unmounted.length > 0) this.log.warn({ mounts: unmounted }, "unmounted leftover volume mounts");
    for (const loop of await findLoopDevicesUnder(this.imagesDir)) {
      if (keptImages.has(path.basename(loop.backingFile))) continue;
      this.log.warn({ device: loop.device, image: loop.backingFile }, "detaching leftover loop device");
      await detachLoop(this.runner, loop.device);
    }
    // A loop device still attached now is held by someone (e.g. a bind elsewhere): the
    // filesystem is live, so checking or deleting its image would be unsafe.
    const stillAttached = new Set((await findLoopDevicesUnder(this.imagesDir)).map((d) => d.backingFile));

    const seen = new Set<string>();
    for (const entry of await readdir(this.imagesDir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(this.imagesDir, entry.name);
      const id = entry.name.endsWith(IMAGE_SUFFIX) ? entry.name.slice(0, -IMAGE_SUFFIX.length) : undefined;
      if (id !== undefined && keptImages.has(entry.name) && known.has(id)) {
        seen.add(id); // mounted and in use: checked at its next mount
        continue;
      }
      if (stillAttached.has(file)) {
        this.log.error({ file }, "image still attached to a busy loop device; not checked");
        if (id !== undefined) seen.add(id);
        continue;
      }
      if (id === undefined || !known.has(id)) {
        this.log.warn({ file }, "removing image of an unknown volume");
        await removeImage(file);
        continue;
      }
      seen.add(id);
      await checkImage(this.runner, this.log, id, file);
      await allocateInFull({ log: this.log, disk: this.disk, runner: this.runner }, id, file);
    }
    for (const id of known) {
      if (!seen.has(id)) this.log.error({ volumeId: id }, "known volume has no image");
    }
    for (const entry of await readdir(this.mountsDir, { withFileTypes: true })) {
      if (entry.isDirectory() && !this.acquired.has(entry.name)) await rmdir(path.join(this.mountsDir, entry.name)).catch(() => undefined);
    }
  }
}
