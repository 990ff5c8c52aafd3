import { ConflictError, InvalidArgumentError, NotFoundError, createVolumeSchema, parseOrThrow, restoreVolumeSchema, type VolumeInfo } from "atoll/contract";
import type { Logger } from "pino";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { AttachmentRepo } from "../store/attachment-repo.js";
import type { VolumeRepo, VolumeRow } from "../store/volume-repo.js";
import type { StorageDriver } from "./drivers.js";
import { newVolumeId, nowIso } from "./ids.js";
import type { QuotaChecker } from "./quota-checker.js";
import { crashPoint } from "../crash-points.js";
import type { SnapshotRepo, SnapshotRow } from "../store/snapshot-repo.js";
import { findSnapshot } from "./snapshot-service.js";

const GIB = 2 ** 30;

/** Detaches a volume from every sandbox that has it (provided by the attachment service). */
export type DetachEverywhere = (volumeId: string) => Promise<void>;

/**
 * Creates, lists, inspects and deletes volumes. Decides; the storage driver touches the host.
 * Every operation on one volume runs under that volume's lock (shared with attach/detach).
 */
export class VolumeService {
  constructor(
    private readonly deps: {
      volumes: VolumeRepo;
      attachments: AttachmentRepo;
      storage: StorageDriver;
      locks: KeyedMutex;
      logger: Logger;
      /** Per-tenant limits (QUOTA_EXCEEDED). */
      quotas?: Pick<QuotaChecker, "admitVolume">;
      /** Detaches a volume from every sandbox (the attachment service's; force delete). */
      detachEverywhere: DetachEverywhere;
      /** Snapshots, for volumes made `from` one and restores (docs/snapshots.md). */
      snapshots?: Pick<SnapshotRepo, "find">;
      /** Root filesystems bootable volumes can be made from: `"builtin:debian-12"` → host directory. */
      builtinImages?: Readonly<Record<string, string>>;
    },
  ) {}

  async create(tenant: string, input: unknown): Promise<VolumeInfo> {
    const req = parseOrThrow(createVolumeSchema, input, "volume");
    // Round to whole 4 KiB blocks so the filesystem is exactly the size reported.
    const capacityBytes = Math.floor((req.sizeGb * GIB) / 4096) * 4096;
    const builtin = req.from?.startsWith("builtin:") ? this.builtin(req.from) : undefined;
    const from = req.from === undefined || builtin !== undefined ? undefined : this.snapshot(tenant, req.from);
    if (from && capacityBytes < from.capacityBytes) {
      throw new InvalidArgumentError(
        `sizeGb ${req.sizeGb} is smaller than snapshot "${from.name}" (${from.sizeGb} GiB); a volume made from it needs at least that.`,
        { sizeGb: req.sizeGb, snapshot: from.id, snapshotSizeGb: from.sizeGb },
      );
    }
    const row: VolumeRow = {
      id: newVolumeId(),
      tenant,
      name: req.name,
      sizeGb: req.sizeGb,
      capacityBytes,
      state: "creating",
      createdAt: nowIso(),
      lastAttachedAt: null,
      fromSnapshot: from?.id ?? null,
      bootable: builtin !== undefined || from?.bootable === true,
      // An imported image's config goes with its forks (core/image-defaults.ts).
      imageConfig: from?.imageConfig ?? null,
    };
    // Quota check and insert are one synchronous step (no await before it): concurrent creates
    // cannot all pass. The row is recorded before the image exists, so a crash in between is
    // cleaned up at the next start; it is deleted again (releasing the quota) if the create fails.
    const inserted = this.deps.quotas ? this.deps.quotas.admitVolume(row) : this.deps.volumes.tryInsert(row);
    if (!inserted) {
      throw new ConflictError("VOLUME_NAME_TAKEN", `A volume named "${req.name}" already exists; pick another name or reuse it.`, {
        name: req.name,
      });
    }
    crashPoint("volume.create.after-row");
    // The storage driver checks (and reserves) the host disk: INSUFFICIENT_STORAGE names the numbers.
    try {
      if (from) {
        // Under the snapshot's lock (then the new volume's: no one else has that one), so the
        // snapshot cannot be deleted while it is cloned; it may have been just before.
        await this.deps.locks.run(from.id, async () => {
          this.snapshot(tenant, from.id);
          await this.deps.locks.run(row.id, () => this.deps.storage.createFrom(row.id, from.id, capacityBytes));
        });
        crashPoint("volume.fork.after-clone");
      } else if (builtin !== undefined) {
        await this.deps.locks.run(row.id, () => this.deps.storage.createFromTree(row.id, capacityBytes, builtin, req.from!));
      } else {
        await this.deps.locks.run(row.id, () => this.deps.storage.create(row.id, capacityBytes));
      }
    } catch (err) {
      this.deps.volumes.delete(row.id);
      throw err;
    }
    crashPoint("volume.create.before-ready");
    this.deps.volumes.setState(row.id, "ready");
    this.deps.logger.info({ volumeId: row.id, name: row.name, sizeGb: row.sizeGb, from: from?.id }, "volume created");
    return this.info({ ...row, state: "ready" });
  }

  /** The volume row by id or name, or VOLUME_NOT_FOUND. */
  find(tenant: string, idOrName: string): VolumeRow {
    const row = this.deps.volumes.find(tenant, idOrName);
    if (!row) {
      throw new NotFoundError("VOLUME_NOT_FOUND", `No volume with id or name "${idOrName}". List volumes with Sandbox.listVolumes().`, {
        volume: idOrName,
      });
    }
    return row;
  }

  async get(tenant: string, idOrName: string): Promise<VolumeInfo> {
    return this.info(this.find(tenant, idOrName));
  }

  async list(tenant: string): Promise<VolumeInfo[]> {
    return Promise.all(this.deps.volumes.list(tenant).map((row) => this.info(row)));
  }

  /**
   * Deletes a volume and frees its space. Refuses with VOLUME_IN_USE while attached, unless
   * `force`, which detaches it from every sandbox first.
   */
  async delete(tenant: string, idOrName: string, force: boolean): Promise<VolumeInfo> {
    const row = this.find(tenant, idOrName);
    if (force && this.deps.attachments.forVolume(row.id).length > 0) await this.deps.detachEverywhere(row.id);
    crashPoint("volume.delete.after-detach");
    const info = await this.info(row);
    await this.deps.locks.run(row.id, async () => {
      // Checked under the volume's lock: an attach that raced with us has either finished or not started.
      const attached = this.deps.attachments.forVolume(row.id);
      if (attached.length > 0) {
        throw new ConflictError(
          "VOLUME_IN_USE",
          `Volume "${row.name}" is attached to ${attached.map((a) => `${a.sandboxId} at ${a.mountPath}`).join(", ")}. ` +
            "Detach it or kill those sandboxes first, or delete with force ({ force: true } in the SDK, --force in the CLI).",
          { sandboxes: attached.map((a) => a.sandboxId), attachments: attached },
        );
      }
      this.deps.volumes.setState(row.id, "deleting");
      crashPoint("volume.delete.after-deleting");
      await this.deps.storage.delete(row.id);
      crashPoint("volume.delete.after-image");
      this.deps.volumes.delete(row.id);
    });
    this.deps.logger.info({ volumeId: row.id, name: row.name }, "volume deleted");
    return { ...info, attachments: [] };
  }

  /**
   * Rolls a volume back to a snapshot (`{ snapshot: idOrName }`): its data becomes the snapshot's.
   * Refuses with VOLUME_IN_USE while attached; a snapshot larger than the volume is INVALID_ARGUMENT.
   */
  async restore(tenant: string, idOrName: string, input: unknown): Promise<VolumeInfo> {
    const req = parseOrThrow(restoreVolumeSchema, input, "restore");
    const row = this.find(tenant, idOrName);
    const snap = this.snapshot(tenant, req.snapshot);
    if (snap.capacityBytes > row.capacityBytes) {
      throw new InvalidArgumentError(`Snapshot "${snap.name}" (${snap.sizeGb} GiB) is larger than volume "${row.name}" (${row.sizeGb} GiB).`, {
        snapshot: snap.id,
        volume: row.id,
      });
    }
    await this.deps.locks.run(row.id, async () => {
      const attached = this.deps.attachments.forVolume(row.id);
      if (attached.length > 0) {
        throw new ConflictError(
          "VOLUME_IN_USE",
          `Volume "${row.name}" is attached to ${attached.map((a) => a.sandboxId).join(", ")}; detach it or kill those sandboxes before restoring it.`,
          { sandboxes: attached.map((a) => a.sandboxId) },
        );
      }
      // Locks: the volume's, then the snapshot's (never the other way round: no deadlock with a fork).
      await this.deps.locks.run(snap.id, async () => {
        this.snapshot(tenant, snap.id);
        await this.deps.storage.restore(row.id, snap.id);
        this.deps.volumes.setImageConfig(row.id, snap.imageConfig ?? null);
      });
    });
    this.deps.logger.info({ volumeId: row.id, snapshotId: snap.id }, "volume restored");
    return this.info(row);
  }

  /** The host directory of a builtin root filesystem ("builtin:debian-12"), or INVALID_ARGUMENT. */
  private builtin(name: string): string {
    const tree = this.deps.builtinImages?.[name];
    if (tree === undefined) {
      const known = Object.keys(this.deps.builtinImages ?? {});
      throw new InvalidArgumentError(`Unknown builtin image "${name}"; this daemon has ${known.length > 0 ? known.join(", ") : "none"}.`, { from: name });
    }
    return tree;
  }

  private snapshot(tenant: string, idOrName: string): SnapshotRow {
    if (!this.deps.snapshots) throw new InvalidArgumentError("This daemon keeps no snapshots.", { snapshot: idOrName });
    return findSnapshot(this.deps.snapshots, tenant, idOrName);
  }

  /** Bytes free on the host for volume images: what sparse volumes can still grow into. */
  hostFreeBytes(): Promise<number> {
    return this.deps.storage.freeBytes();
  }

  /**
   * Bytes `volumes` may still take from the host as they fill: only volumes whose images are
   * not allocated in full yet (made by an earlier version, and not allocated since for lack of
   * room) have any.
   */
  async unallocatedBytes(volumes: readonly { id: string }[]): Promise<number> {
    const each = await Promise.all(volumes.map((v) => this.deps.storage.unallocatedBytes(v.id)));
    return each.reduce((a, b) => a + b, 0);
  }

  /** The snapshot a volume was made from, while it exists (Deno's `baseSnapshot`). */
  private baseSnapshotOf(row: VolumeRow): { id: string; name: string } | null {
    const snap = row.fromSnapshot ? this.deps.snapshots?.find(row.tenant, row.fromSnapshot) : undefined;
    return snap ? { id: snap.id, name: snap.name } : null;
  }

  /** Wire view of a row with live usage and current attachments. */
  async info(row: VolumeRow): Promise<VolumeInfo> {
    const usage = await this.deps.storage.usage(row.id);
    // A volume made from a snapshot counts what it wrote: the data it still shares is the
    // snapshot's (docs/snapshots.md "Accounting"). A volume that was snapshotted keeps its own.
    const inherited = row.fromSnapshot ? Math.min(usage.usedBytes, usage.sharedBytes ?? 0) : 0;
    return {
      id: row.id,
      name: row.name,
      sizeGb: row.sizeGb,
      capacityBytes: row.capacityBytes,
      usedBytes: usage.usedBytes - inherited,
      usedInodes: usage.usedInodes,
      inodeCapacity: usage.inodeCapacity,
      createdAt: row.createdAt,
      lastAttachedAt: row.lastAttachedAt,
      attachments: this.deps.attachments.forVolume(row.id),
      bootable: row.bootable === true,
      fromSnapshot: this.baseSnapshotOf(row),
    };
  }
}
