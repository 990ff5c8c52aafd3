/**
 * `atoll image import` (issue 14, docs/images.md "Importing an image"): an OCI image archive
 * (`docker save`, OCI layout tarball) becomes a bootable snapshot. The archive is received into a
 * private work directory under the state dir (admitted by the disk budget), unpacked
 * (image/oci-archive.ts), its owners moved into the sandbox id range, copied into a new volume,
 * snapshotted, and the volume removed again: the snapshot is the image (fork it for a read-write
 * copy). Everything runs under one lock per name; any failure leaves nothing behind, and a crash
 * leaves only what the start-up reconcile removes (a "creating" snapshot row, images of unknown
 * ids, the work directory: `cleanLeftovers`).
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { ConflictError, importImageSchema, parseOrThrow, type SnapshotInfo } from "atoll/contract";
import type { Logger } from "pino";
import type { DiskBudget } from "../host/disk-budget.js";
import { shiftIds } from "../host/id-shift.js";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { CommandRunner } from "../host/run-command.js";
import { receiveArchive } from "../image/archive-upload.js";
import { unpackOciArchive } from "../image/oci-archive.js";
import { resolveImageUser } from "../image/oci-user.js";
import { minSizeGbFor, treeBytes } from "../storage/bootable-volume.js";
import type { SnapshotRepo, SnapshotRow } from "../store/snapshot-repo.js";
import type { StorageDriver } from "./drivers.js";
import { newSnapshotId, newVolumeId, nowIso } from "./ids.js";
import { crashPoint } from "../crash-points.js";
import { encodeImageDefaults, imageDefaults } from "./image-defaults.js";
import type { QuotaChecker } from "./quota-checker.js";
import type { SnapshotService } from "./snapshot-service.js";

const GIB = 2 ** 30;
/** Largest archive (and unpacked content) accepted when the import names no size. */
export const DEFAULT_IMPORT_LIMIT_BYTES = 8 * GIB;

export class ImageImportService {
  constructor(
    private readonly deps: {
      stateDir: string;
      uidBase: number;
      nativeDir: string;
      runner: CommandRunner;
      storage: StorageDriver;
      snapshots: SnapshotRepo;
      /** Wire views of the new snapshot. */
      snapshotInfo: Pick<SnapshotService, "info">;
      locks: KeyedMutex;
      disk: Pick<DiskBudget, "withVolume">;
      logger: Logger;
      quotas?: Pick<QuotaChecker, "admitSnapshot">;
      /** Largest archive when the request names no size (default 8 GiB). */
      defaultLimitBytes?: number;
    },
  ) {}

  /** `<stateDir>/image-imports`: one private work directory per import under way. */
  private get workRoot(): string {
    return path.join(this.deps.stateDir, "image-imports");
  }

  /** At daemon start: work directories a crash left (no import runs yet). */
  async cleanLeftovers(): Promise<void> {
    await rm(this.workRoot, { recursive: true, force: true });
  }

  /**
   * Imports the archive `body` as the bootable snapshot `name`. The archive may be at most the
   * requested size (or 8 GiB) and unpack to at most that much: PAYLOAD_TOO_LARGE beyond.
   * SNAPSHOT_NAME_TAKEN, INVALID_ARGUMENT (a bad archive, a size too small), QUOTA_EXCEEDED,
   * INSUFFICIENT_STORAGE: nothing is left.
   */
  async import(tenant: string, input: unknown, body: Readable): Promise<SnapshotInfo> {
    const req = parseOrThrow(importImageSchema, input, "image import");
    this.assertFree(tenant, req.name);
    const limit = req.sizeGb === undefined ? (this.deps.defaultLimitBytes ?? DEFAULT_IMPORT_LIMIT_BYTES) : Math.floor((req.sizeGb * GIB) / 4096) * 4096;
    return this.deps.locks.run(`image-import:${tenant}:${req.name}`, async () => {
      this.assertFree(tenant, req.name);
      const id = newSnapshotId();
      await mkdir(this.workRoot, { recursive: true, mode: 0o700 });
      const work = path.join(this.workRoot, id);
      await mkdir(work, { mode: 0o700 });
      const archive = path.join(work, "archive");
      try {
        // Room for the archive and the tree it unpacks to, each at most `limit`.
        return await this.deps.disk.withVolume(2 * limit, archive, async () => {
          const received = await receiveArchive(body, archive, limit);
          const tree = path.join(work, "rootfs");
          const unpacked = await unpackOciArchive(archive, tree, { maxBytes: limit });
          await rm(archive, { force: true });
          const user = await resolveImageUser(tree, unpacked.config.user);
          await shiftIds(this.deps.runner, tree, 0, this.deps.uidBase, this.deps.nativeDir);
          crashPoint("image.import.after-unpack");
          const sizeGb = req.sizeGb ?? minSizeGbFor(await treeBytes(this.deps.runner, tree));
          this.deps.logger.info({ name: req.name, archiveBytes: received, bytes: unpacked.bytesWritten, layers: unpacked.layers.length }, "image unpacked");
          return this.makeSnapshot(tenant, id, req.name, sizeGb, tree, encodeImageDefaults(imageDefaults(unpacked.config, user)));
        });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }

  /** SNAPSHOT_NAME_TAKEN when the tenant has a snapshot `name`. */
  private assertFree(tenant: string, name: string): void {
    if (this.deps.snapshots.find(tenant, name)) {
      throw new ConflictError("SNAPSHOT_NAME_TAKEN", `A snapshot named "${name}" already exists; pick another name or delete it first.`, { name });
    }
  }

  /** The tree as a bootable snapshot: row ("creating"), a volume filled from it, its snapshot, the volume removed. */
  private async makeSnapshot(tenant: string, id: string, name: string, sizeGb: number, tree: string, imageConfig: string): Promise<SnapshotInfo> {
    const volumeId = newVolumeId();
    const capacityBytes = Math.floor((sizeGb * GIB) / 4096) * 4096;
    const row: SnapshotRow = {
      id,
      tenant,
      name,
      volumeId,
      volumeName: `image:${name}`,
      sizeGb,
      capacityBytes,
      state: "creating",
      createdAt: nowIso(),
      bootable: true,
      imageConfig,
    };
    const inserted = this.deps.quotas ? this.deps.quotas.admitSnapshot(row) : this.deps.snapshots.tryInsert(row);
    if (!inserted) throw new ConflictError("SNAPSHOT_NAME_TAKEN", `A snapshot named "${name}" already exists; pick another name or delete it first.`, { name });
    crashPoint("image.import.after-row");
    let snapshotted = false;
    try {
      // The volume's id is new: no one else takes its lock.
      await this.deps.locks.run(volumeId, async () => {
        await this.deps.storage.createFromTree(volumeId, capacityBytes, tree, `image "${name}"`);
        crashPoint("image.import.after-fill");
        try {
          await this.deps.storage.snapshot(volumeId, id);
          snapshotted = true;
        } finally {
          await this.deps.storage.delete(volumeId);
        }
      });
    } catch (err) {
      if (snapshotted)
        await this.deps.storage
          .deleteSnapshot(id)
          .catch((e: unknown) => this.deps.logger.error({ err: e, snapshotId: id }, "removing a half-made image snapshot failed"));
      this.deps.snapshots.delete(id);
      throw err;
    }
    crashPoint("image.import.before-ready");
    this.deps.snapshots.setState(id, "ready");
    this.deps.logger.info({ snapshotId: id, name, sizeGb }, "image imported");
    return this.deps.snapshotInfo.info({ ...row, state: "ready" });
  }
}
