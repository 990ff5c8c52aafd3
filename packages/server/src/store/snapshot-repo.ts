import type { Db } from "./database.js";

export type SnapshotRowState = "creating" | "ready" | "deleting";

/** A volume snapshot as the store keeps it (issue 14). */
export interface SnapshotRow {
  id: string;
  tenant: string;
  name: string;
  /** The volume it was taken of; that volume may have been deleted since. */
  volumeId: string;
  volumeName: string;
  sizeGb: number;
  capacityBytes: number;
  state: SnapshotRowState;
  createdAt: string;
  /** Taken of a bootable volume: a sandbox can boot from it (`root`); absent: false. */
  bootable?: boolean;
  /** The imported image's config a sandbox booting from it honours (core/image-defaults.ts, JSON); absent: none. */
  imageConfig?: string | null;
}

interface RawRow {
  id: string;
  tenant: string;
  name: string;
  volume_id: string;
  volume_name: string;
  size_gb: number;
  capacity_bytes: number;
  state: SnapshotRowState;
  created_at: string;
  bootable: number;
  image_config: string | null;
}

const fromRaw = (r: RawRow): SnapshotRow => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  volumeId: r.volume_id,
  volumeName: r.volume_name,
  sizeGb: r.size_gb,
  capacityBytes: r.capacity_bytes,
  state: r.state,
  createdAt: r.created_at,
  bootable: r.bootable === 1,
  imageConfig: r.image_config,
});

/** Snapshots table access. */
export class SnapshotRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a row; returns false when the tenant already has a snapshot of that name. */
  tryInsert(row: SnapshotRow): boolean {
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO snapshots (id, tenant, name, volume_id, volume_name, size_gb, capacity_bytes, state, created_at, bootable, image_config)
         VALUES (@id, @tenant, @name, @volumeId, @volumeName, @sizeGb, @capacityBytes, @state, @createdAt, @bootable, @imageConfig)`,
      )
      .run({ ...row, bootable: row.bootable ? 1 : 0, imageConfig: row.imageConfig ?? null });
    return result.changes === 1;
  }

  /** By id, or by name when no id matches. Rows being created or deleted are invisible. */
  find(tenant: string, idOrName: string): SnapshotRow | undefined {
    const raw = this.db
      .prepare("SELECT * FROM snapshots WHERE tenant = ? AND state = 'ready' AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1")
      .get(tenant, idOrName, idOrName, idOrName) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  /** The tenant's ready snapshots, newest first; of one volume when `volumeId` is given. */
  list(tenant: string, volumeId?: string): SnapshotRow[] {
    const rows =
      volumeId === undefined
        ? this.db.prepare("SELECT * FROM snapshots WHERE tenant = ? AND state = 'ready' ORDER BY created_at DESC, name").all(tenant)
        : this.db
            .prepare("SELECT * FROM snapshots WHERE tenant = ? AND state = 'ready' AND volume_id = ? ORDER BY created_at DESC, name")
            .all(tenant, volumeId);
    return (rows as RawRow[]).map(fromRaw);
  }

  /** GiB of all the tenant's snapshots in every state (quotas: a snapshot counts its volume's size). */
  totalGb(tenant: string): number {
    return (this.db.prepare("SELECT COALESCE(SUM(size_gb), 0) AS gb FROM snapshots WHERE tenant = ?").get(tenant) as { gb: number }).gb;
  }

  /** Every row whatever its tenant and state (reconcile). */
  listAll(): SnapshotRow[] {
    return (this.db.prepare("SELECT * FROM snapshots").all() as RawRow[]).map(fromRaw);
  }

  /**
   * At daemon start: drops rows of snapshots a crash left half-made ("creating") or half-deleted
   * ("deleting"; their images go with the strays) and returns the ids of the ready ones.
   */
  settleAtStart(): Set<string> {
    this.db.prepare("DELETE FROM snapshots WHERE state <> 'ready'").run();
    return new Set(this.listAll().map((r) => r.id));
  }

  setState(id: string, state: SnapshotRowState): void {
    this.db.prepare("UPDATE snapshots SET state = ? WHERE id = ?").run(state, id);
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }
}
