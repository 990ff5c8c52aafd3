import { Readable } from "node:stream";
import {
  CapacityError,
  ConflictError,
  InvalidArgumentError,
  exportVolumeQuerySchema,
  importVolumeQuerySchema,
  parseOrThrow,
  type VolumeArchiveHeader,
  type VolumeInfo,
} from "atoll/contract";
import type { Logger } from "pino";
import { ArchiveReader, archiveChunks } from "../backup/archive-envelope.js";
import { DaemonError } from "../daemon-error.js";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { VolumeRepo, VolumeRow } from "../store/volume-repo.js";
import type { StorageDriver } from "./drivers.js";
import { newSnapshotId, newVolumeId, nowIso } from "./ids.js";
import type { QuotaChecker } from "./quota-checker.js";
import type { SnapshotService } from "./snapshot-service.js";
import type { VolumeService } from "./volume-service.js";

const GIB = 2 ** 30;
/** Exports and imports one tenant may run at once. */
const MAX_TRANSFERS_PER_TENANT = 4;

/** Where a volume's files become an archive's payload and back (backup/tar-backup-driver.ts). */
export interface BackupDriver {
  /** tar+zstd of a snapshot's files; whatever it holds on the host is released when the iteration ends, also early. */
  exportSnapshot(snapshotId: string): AsyncIterable<Buffer>;
  /**
   * Restores `payload` (tar+zstd) into the mounted, empty volume at `target`. Errors:
   * ArchiveInvalidError "contents"; INVALID_ARGUMENT "no-space"; what iterating `payload` throws.
   */
  extract(target: string, payload: AsyncIterable<Buffer>): Promise<void>;
}

/**
 * Volume backups (issue 17, docs/operations.md "Back up and restore"): exports a volume (or one
 * of its snapshots) as a checksummed archive stream, and makes a new volume from one.
 *
 * Export without a snapshot takes a **temporary snapshot** (milliseconds, also while sandboxes
 * write: docs/snapshots.md), exports that and deletes it at the end: the archive is always one
 * point in time, no writer has to stop, and no attach waits for the export. It is the store's
 * unknown snapshot while it exists, so a crash part way leaves nothing the next start does not remove.
 *
 * Import writes into a volume that is not listed yet ("creating": invisible, its name and quota
 * taken) and makes it ready only once the archive's checksum checked out and tar succeeded; on
 * any failure the volume is deleted and the name is free again.
 */
export class BackupService {
  /** Streams of running exports and bodies of running imports (shutdown ends them). */
  private readonly active = new Set<{ destroy(error?: Error): void }>();
  /** Running exports and imports per tenant. */
  private readonly running = new Map<string, number>();

  constructor(
    private readonly deps: {
      volumes: Pick<VolumeService, "find" | "info">;
      volumeRepo: Pick<VolumeRepo, "tryInsert" | "setState" | "delete">;
      snapshots: Pick<SnapshotService, "find">;
      storage: StorageDriver;
      driver: BackupDriver;
      locks: KeyedMutex;
      logger: Logger;
      quotas?: Pick<QuotaChecker, "admitVolume">;
    },
  ) {}

  /**
   * The archive of the tenant's volume `idOrName` as a stream: `{ snapshot }` exports that
   * snapshot (of this volume); without it a temporary snapshot taken now.
   */
  async export(tenant: string, idOrName: string, query: unknown): Promise<{ header: VolumeArchiveHeader; stream: Readable }> {
    const q = parseOrThrow(exportVolumeQuerySchema, query, "export query");
    const done = this.admit(tenant);
    try {
      const exported = await this.startExport(tenant, idOrName, q.snapshot);
      exported.stream.once("close", done);
      return exported;
    } catch (err) {
      done();
      throw err;
    }
  }

  private async startExport(tenant: string, idOrName: string, snapshot: string | undefined): Promise<{ header: VolumeArchiveHeader; stream: Readable }> {
    const volume = this.deps.volumes.find(tenant, idOrName);
    const info = await this.deps.volumes.info(volume);
    const named = snapshot === undefined ? undefined : this.deps.snapshots.find(tenant, snapshot);
    if (named && named.volumeId !== volume.id) {
      throw new InvalidArgumentError(`Snapshot "${named.name}" is of volume "${named.volumeName}", not of "${volume.name}".`, {
        snapshot: named.id,
        volume: volume.id,
      });
    }
    const header: VolumeArchiveHeader = {
      version: 1,
      payload: "tar+zstd",
      volume: { name: volume.name, sizeGb: volume.sizeGb, capacityBytes: volume.capacityBytes, usedBytes: info.usedBytes, usedInodes: info.usedInodes },
      ...(named ? { snapshot: { id: named.id, name: named.name, createdAt: named.createdAt } } : {}),
      exportedAt: nowIso(),
    };
    let snapshotId: string;
    let temporary = false;
    if (named) {
      snapshotId = named.id;
    } else {
      snapshotId = newSnapshotId();
      await this.deps.locks.run(volume.id, async () => {
        this.deps.volumes.find(tenant, volume.id); // deleted meanwhile?
        await this.deps.storage.snapshot(volume.id, snapshotId);
      });
      temporary = true;
    }
    const log = this.deps.logger;
    const { driver, storage, locks } = this.deps;
    let started = false;
    const dropTemporary = () =>
      storage.deleteSnapshot(snapshotId).catch((err: unknown) => log.warn({ err, snapshotId }, "export: temporary snapshot not deleted"));
    async function* payload(): AsyncGenerator<Buffer> {
      started = true;
      try {
        // A named snapshot cannot be deleted while it is read (its lock is held).
        if (temporary) yield* driver.exportSnapshot(snapshotId);
        else yield* lockedIterable(locks, snapshotId, () => driver.exportSnapshot(snapshotId));
      } finally {
        if (temporary) await dropTemporary();
      }
    }
    log.info({ volumeId: volume.id, snapshotId, temporary }, "volume export started");
    const stream = Readable.from(archiveChunks(header, payload()), { objectMode: false });
    this.active.add(stream);
    stream.once("close", () => {
      this.active.delete(stream);
      // Ended before its payload was asked for (the client left at once): no finally ran.
      if (temporary && !started) void dropTemporary();
    });
    return { header, stream };
  }

  /**
   * A new volume `name` (`sizeGb`: the exported volume's size when absent) from the archive
   * `body`. Nothing is created before the header was read; nothing is left after a failure.
   */
  async import(tenant: string, query: unknown, body: AsyncIterable<Uint8Array>): Promise<VolumeInfo> {
    const q = parseOrThrow(importVolumeQuerySchema, query, "import query");
    const reader = new ArchiveReader(body);
    const stoppable = body instanceof Readable ? body : undefined;
    let done: (() => void) | undefined;
    if (stoppable) this.active.add(stoppable);
    try {
      done = this.admit(tenant);
      return await this.importFrom(tenant, q, reader);
    } catch (err) {
      await reader.discard();
      throw err;
    } finally {
      done?.();
      if (stoppable) this.active.delete(stoppable);
    }
  }

  /**
   * Counts one more running export or import of `tenant` (QUOTA_EXCEEDED past
   * MAX_TRANSFERS_PER_TENANT: each runs tar and zstd, and an export holds a snapshot); returns
   * its release, which may be called more than once.
   */
  private admit(tenant: string): () => void {
    const running = this.running.get(tenant) ?? 0;
    if (running >= MAX_TRANSFERS_PER_TENANT) {
      throw new CapacityError(
        "QUOTA_EXCEEDED",
        `${running} volume exports and imports of this tenant are running, the most at once; retry when one has ended.`,
        {
          running,
          limit: MAX_TRANSFERS_PER_TENANT,
        },
      );
    }
    this.running.set(tenant, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.running.get(tenant) ?? 1) - 1;
      if (left > 0) this.running.set(tenant, left);
      else this.running.delete(tenant);
    };
  }

  /**
   * Daemon shutdown: ends every running export (its snapshot and mount are released) and import
   * (its volume is deleted), so the HTTP server's close does not wait for them.
   */
  shutdown(): void {
    for (const stream of this.active) stream.destroy(new DaemonError("HOST_NOT_READY", "the daemon is shutting down"));
  }

  private async importFrom(tenant: string, q: { name: string; sizeGb?: number | undefined }, reader: ArchiveReader): Promise<VolumeInfo> {
    const header = await reader.header();
    const sizeGb = q.sizeGb ?? header.volume.sizeGb;
    const capacityBytes = Math.floor((sizeGb * GIB) / 4096) * 4096;
    // No check of the archive's size against sizeGb here: usedBytes counts ext4's metadata, which
    // depends on the volume's size. A volume too small fails as tar fills it (INVALID_ARGUMENT "no-space").
    const row: VolumeRow = {
      id: newVolumeId(),
      tenant,
      name: q.name,
      sizeGb,
      capacityBytes,
      state: "creating",
      createdAt: nowIso(),
      lastAttachedAt: null,
      fromSnapshot: null,
    };
    // As a create: the row (invisible while "creating") reserves the name and the quota at once.
    const inserted = this.deps.quotas ? this.deps.quotas.admitVolume(row) : this.deps.volumeRepo.tryInsert(row);
    if (!inserted) {
      throw new ConflictError("VOLUME_NAME_TAKEN", `A volume named "${q.name}" already exists; import under another name (--name) or delete it first.`, {
        name: q.name,
      });
    }
    const started = Date.now();
    try {
      await this.deps.locks.run(row.id, () => this.deps.storage.create(row.id, capacityBytes));
      try {
        const target = await this.deps.storage.acquire(row.id);
        try {
          await this.deps.driver.extract(target, reader.payload());
        } finally {
          await this.deps.storage.release(row.id);
        }
      } catch (err) {
        await this.deps.locks.run(row.id, () => this.deps.storage.delete(row.id));
        throw err;
      }
    } catch (err) {
      this.deps.volumeRepo.delete(row.id);
      this.deps.logger.info({ volumeId: row.id, name: row.name, err }, "volume import failed; nothing kept");
      throw err;
    }
    this.deps.volumeRepo.setState(row.id, "ready");
    this.deps.logger.info({ volumeId: row.id, name: row.name, from: header.volume.name, ms: Date.now() - started }, "volume imported");
    return this.deps.volumes.info({ ...row, state: "ready" });
  }
}

/** Iterates `make()` holding `key`'s lock from the first read to the end (also an early end). */
async function* lockedIterable(locks: KeyedMutex, key: string, make: () => AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const done = locks.run(key, async () => {
    entered();
    await held;
  });
  await inside;
  try {
    yield* make();
  } finally {
    release();
    await done;
  }
}
