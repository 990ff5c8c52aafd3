import { ConflictError, NotFoundError, createSnapshotSchema, parseOrThrow, type SnapshotInfo } from "atoll/contract";
import type { Logger } from "pino";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { SnapshotRepo, SnapshotRow } from "../store/snapshot-repo.js";
import type { AttachmentRepo } from "../store/attachment-repo.js";
import { crashPoint } from "../crash-points.js";
import type { StorageDriver } from "./drivers.js";
import { newSnapshotId, nowIso } from "./ids.js";
import type { QuotaChecker } from "./quota-checker.js";
import type { VolumeService } from "./volume-service.js";

/** The tenant's snapshot by id or name, or SNAPSHOT_NOT_FOUND. */
export function findSnapshot(snapshots: Pick<SnapshotRepo, "find">, tenant: string, idOrName: string): SnapshotRow {
  const row = snapshots.find(tenant, idOrName);
  if (!row) {
    throw new NotFoundError("SNAPSHOT_NOT_FOUND", `No snapshot with id or name "${idOrName}". List snapshots with Sandbox.listSnapshots().`, {
      snapshot: idOrName,
    });
  }
  return row;
}

/**
 * Takes, lists, inspects and deletes volume snapshots (docs/snapshots.md). Decides; the storage
 * driver touches the host. A snapshot runs under its volume's lock (shared with attach, detach
 * and delete), so the volume cannot be attached, detached or deleted meanwhile.
 */
export class SnapshotService {
  constructor(
    private readonly deps: {
      snapshots: SnapshotRepo;
      volumes: Pick<VolumeService, "find">;
      storage: StorageDriver;
      locks: KeyedMutex;
      logger: Logger;
      /** Per-tenant limits: a snapshot counts its volume's size against maxVolumeGb (QUOTA_EXCEEDED). */
      quotas?: Pick<QuotaChecker, "admitSnapshot">;
      /** Where snapshots are mounted read-only: a mounted snapshot is not deleted (SNAPSHOT_IN_USE). */
      mounts?: Pick<AttachmentRepo, "forSnapshot">;
    },
  ) {}

  /**
   * Snapshots the tenant's volume `volumeIdOrName`, attached or not. The row is recorded
   * ("creating") before the image exists, so a crash in between is cleaned up at the next start,
   * and it is deleted again (releasing the quota) if the snapshot fails.
   */
  async create(tenant: string, volumeIdOrName: string, input: unknown): Promise<SnapshotInfo> {
    const req = parseOrThrow(createSnapshotSchema, input, "snapshot");
    const volume = this.deps.volumes.find(tenant, volumeIdOrName);
    const row: SnapshotRow = {
      id: newSnapshotId(),
      tenant,
      name: req.name,
      volumeId: volume.id,
      volumeName: volume.name,
      sizeGb: volume.sizeGb,
      capacityBytes: volume.capacityBytes,
      state: "creating",
      createdAt: nowIso(),
      bootable: volume.bootable === true,
      imageConfig: volume.imageConfig ?? null,
    };
    const inserted = this.deps.quotas ? this.deps.quotas.admitSnapshot(row) : this.deps.snapshots.tryInsert(row);
    if (!inserted) {
      throw new ConflictError("SNAPSHOT_NAME_TAKEN", `A snapshot named "${req.name}" already exists; pick another name or delete it first.`, {
        name: req.name,
      });
    }
    crashPoint("snapshot.create.after-row");
    const started = Date.now();
    try {
      await this.deps.locks.run(volume.id, async () => {
        // The volume may have been deleted between the lookup and its lock.
        this.deps.volumes.find(tenant, volume.id);
        await this.deps.storage.snapshot(volume.id, row.id);
      });
    } catch (err) {
      this.deps.snapshots.delete(row.id);
      throw err;
    }
    crashPoint("snapshot.create.before-ready");
    this.deps.snapshots.setState(row.id, "ready");
    this.deps.logger.info({ snapshotId: row.id, name: row.name, volumeId: volume.id, ms: Date.now() - started }, "snapshot taken");
    return this.info({ ...row, state: "ready" });
  }

  /** The snapshot row by id or name, or SNAPSHOT_NOT_FOUND. */
  find(tenant: string, idOrName: string): SnapshotRow {
    return findSnapshot(this.deps.snapshots, tenant, idOrName);
  }

  async get(tenant: string, idOrName: string): Promise<SnapshotInfo> {
    return this.info(this.find(tenant, idOrName));
  }

  /** The tenant's snapshots, newest first (of one volume, by id or name, when `volume` is given). */
  async list(tenant: string, volume?: string): Promise<SnapshotInfo[]> {
    const volumeId = volume === undefined ? undefined : this.deps.volumes.find(tenant, volume).id;
    return Promise.all(this.deps.snapshots.list(tenant, volumeId).map((row) => this.info(row)));
  }

  /**
   * Deletes a snapshot and frees the space only it held. Volumes made from it are not affected.
   * SNAPSHOT_IN_USE while a sandbox has it mounted.
   */
  async delete(tenant: string, idOrName: string): Promise<SnapshotInfo> {
    const row = this.find(tenant, idOrName);
    const info = await this.info(row);
    await this.deps.locks.run(row.id, async () => {
      // Under the snapshot's lock, which a mount takes too: a mount has either finished or not started.
      const mounted = this.deps.mounts?.forSnapshot(row.id) ?? [];
      if (mounted.length > 0) {
        throw new ConflictError(
          "SNAPSHOT_IN_USE",
          `Snapshot "${row.name}" is mounted in ${mounted.map((a) => `${a.sandboxId} at ${a.mountPath}`).join(", ")}. Detach it or kill those sandboxes first.`,
          { sandboxes: mounted.map((a) => a.sandboxId), attachments: mounted },
        );
      }
      this.deps.snapshots.setState(row.id, "deleting");
      crashPoint("snapshot.delete.after-deleting");
      await this.deps.storage.deleteSnapshot(row.id);
      crashPoint("snapshot.delete.after-image");
      this.deps.snapshots.delete(row.id);
    });
    this.deps.logger.info({ snapshotId: row.id, name: row.name }, "snapshot deleted");
    return info;
  }

  /** Wire view of a row, with the bytes only it holds measured now. */
  async info(row: SnapshotRow): Promise<SnapshotInfo> {
    const usage = await this.deps.storage.snapshotUsage(row.id);
    return {
      id: row.id,
      name: row.name,
      volumeId: row.volumeId,
      volumeName: row.volumeName,
      sizeGb: row.sizeGb,
      capacityBytes: row.capacityBytes,
      createdAt: row.createdAt,
      allocatedBytes: usage.allocatedBytes,
      bootable: row.bootable === true,
    };
  }
}
