/**
 * Snapshots, forks and restores of the loop-device backend's volumes (docs/snapshots.md): the
 * StorageDriver methods that clone images in the copy-on-write pool (snapshot-images.ts,
 * cow-pool.ts), with the backend's locks and mounts. LoopVolumeBackend delegates to it.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { SnapshotUsage } from "../core/drivers.js";
import type { DiskBudget } from "../host/disk-budget.js";
import { removeImage } from "../host/ext4-image.js";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import { withFrozen } from "../host/reflink.js";
import { crashPoint } from "../crash-points.js";
import type { CommandRunner } from "../host/run-command.js";
import type { CowPool } from "./cow-pool.js";
import type { StorageLogger } from "./loop-volume-backend.js";
import { cloneSnapshotImage, exclusiveBytes, sharedBytes, snapshotCapacity, snapshotImage, writeSnapshotImage } from "./snapshot-images.js";
import {
  SnapshotAcquiredError,
  SnapshotBackingExistsError,
  VolumeAcquiredError,
  VolumeBackingExistsError,
  VolumeBackingMissingError,
} from "./storage-errors.js";
import { exists, IMAGE_SUFFIX, syncFileAndDir } from "./image-files.js";

/** What the snapshot operations use of the backend. */
export interface BackendInternals {
  runner: CommandRunner;
  log: StorageLogger;
  disk: Pick<DiskBudget, "withVolume">;
  /** The backend's per-volume locks. */
  locks: KeyedMutex;
  /** Volumes mounted now. */
  acquired: ReadonlyMap<string, { refs: number; mountPoint: string }>;
  /** Bytes of each volume's image a snapshot shares (promised growth). */
  shared: Map<string, number>;
  pool(): Promise<CowPool>;
  imagePath(volumeId: string): string;
  /** Unmounts a snapshot's read-only mount that no one holds any more (caller holds its lock). */
  unmountIdle(snapshotId: string): Promise<void>;
}

export class VolumeSnapshots {
  constructor(private readonly h: BackendInternals) {}

  /**
   * Takes a read-only, point-in-time snapshot of a volume (snapshot-images.ts): while it is
   * mounted, its filesystem is frozen (flushed, writers blocked) for the clone and thawed on
   * every path; otherwise its lock keeps it unmounted meanwhile. A volume outside the pool is
   * copied in full.
   */
  async snapshot(volumeId: string, snapshotId: string): Promise<void> {
    const cow = await this.h.pool();
    const target = snapshotImage(cow.snapshotsDir, snapshotId);
    await this.h.locks.run(volumeId, async () => {
      const image = this.h.imagePath(volumeId);
      if (!(await exists(image))) throw new VolumeBackingMissingError(volumeId);
      if (await exists(target)) throw new SnapshotBackingExistsError(snapshotId);
      const clone = cow.clones && path.dirname(image) === cow.volumesDir;
      const held = this.h.acquired.get(volumeId);
      const write = () => writeSnapshotImage({ runner: this.h.runner, log: this.h.log }, image, target, clone);
      if (held)
        await withFrozen(this.h.runner, held.mountPoint, async () => {
          await write();
          crashPoint("snapshot.create.while-frozen"); // the next daemon must thaw it
        });
      else await write();
      await syncFileAndDir(target);
      await this.measureShared(volumeId, image);
      this.h.log.info({ volumeId, snapshotId, mounted: held !== undefined }, "snapshot taken");
    });
  }

  /** Removes a snapshot's image; a missing one is a no-op. The volume it came from is not touched. */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    const cow = await this.h.pool();
    await this.h.locks.run(snapshotId, async () => {
      await this.h.unmountIdle(snapshotId);
      const held = this.h.acquired.get(snapshotId);
      if (held) throw new SnapshotAcquiredError(snapshotId, held.refs);
      await cow.removeImage(snapshotImage(cow.snapshotsDir, snapshotId));
    });
    // Volumes that shared blocks with it may hold them alone now.
    for (const volumeId of [...this.h.shared.keys()]) {
      await this.h.locks
        .run(volumeId, () => this.measureShared(volumeId, this.h.imagePath(volumeId)))
        .catch((err: unknown) => this.h.log.warn({ volumeId, err }, "could not measure a volume's shared blocks"));
    }
    this.h.log.info({ snapshotId }, "snapshot deleted");
  }

  /**
   * Creates a volume from a snapshot (cloneSnapshotImage), admitted by the disk budget like a
   * new volume: its holes are allocated, its shared blocks promised.
   */
  async createFrom(volumeId: string, snapshotId: string, capacityBytes: number): Promise<void> {
    const cow = await this.h.pool();
    const source = snapshotImage(cow.snapshotsDir, snapshotId);
    const image = this.h.imagePath(volumeId);
    await this.h.locks.run(volumeId, async () => {
      if (await exists(image)) throw new VolumeBackingExistsError(volumeId);
      const from = await snapshotCapacity(source, snapshotId);
      if (!Number.isSafeInteger(capacityBytes) || capacityBytes < from) {
        throw new RangeError(`a volume made from snapshot ${snapshotId} needs at least ${from} bytes, got ${capacityBytes}`);
      }
      await this.h.disk.withVolume(capacityBytes, image, () => cloneSnapshotImage(this.h.runner, source, image, capacityBytes, cow.clones));
      await syncFileAndDir(image);
      await this.measureShared(volumeId, image);
      this.h.log.info({ volumeId, snapshotId, capacityBytes }, "volume created from a snapshot");
    });
  }

  /** Rolls a volume that is not mounted back to a snapshot (its image replaced in one rename). */
  async restore(volumeId: string, snapshotId: string): Promise<void> {
    const cow = await this.h.pool();
    const source = snapshotImage(cow.snapshotsDir, snapshotId);
    await this.h.locks.run(volumeId, async () => {
      const held = this.h.acquired.get(volumeId);
      if (held) throw new VolumeAcquiredError(volumeId, held.refs);
      const image = this.h.imagePath(volumeId);
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
      await this.h.disk.withVolume(capacityBytes, `${target}.part`, () => cloneSnapshotImage(this.h.runner, source, target, capacityBytes, cow.clones));
      if (image !== target) await removeImage(image);
      await syncFileAndDir(target);
      await this.measureShared(volumeId, target);
      this.h.log.info({ volumeId, snapshotId }, "volume restored from a snapshot");
    });
  }

  /** Records the bytes of `volumeId`'s image a snapshot shares (none: forgotten). */
  async measureShared(volumeId: string, image: string): Promise<void> {
    const bytes = (await exists(image)) ? await sharedBytes(this.h.runner, image) : 0;
    if (bytes > 0) this.h.shared.set(volumeId, bytes);
    else this.h.shared.delete(volumeId);
  }

  /** A snapshot's capacity (its volume's when taken) and the bytes only it holds (FIEMAP). */
  async snapshotUsage(snapshotId: string): Promise<SnapshotUsage> {
    const cow = await this.h.pool();
    const image = snapshotImage(cow.snapshotsDir, snapshotId);
    const capacityBytes = await snapshotCapacity(image, snapshotId);
    return { capacityBytes, allocatedBytes: await exclusiveBytes(this.h.runner, image) };
  }
}
