import type { Db } from "./database.js";

export type VolumeRowState = "creating" | "ready" | "deleting";

/** A volume as the store keeps it. */
export interface VolumeRow {
  id: string;
  tenant: string;
  name: string;
  sizeGb: number;
  capacityBytes: number;
  state: VolumeRowState;
  createdAt: string;
  lastAttachedAt: string | null;
  /** The snapshot it was made from (issue 14); absent or null: made empty. */
  fromSnapshot?: string | null;
  /** Holds a root filesystem a sandbox can boot from (issue 14); absent: false. */
  bootable?: boolean;
  /** The imported image's config a sandbox booting from it honours (core/image-defaults.ts, JSON); absent: none. */
  imageConfig?: string | null;
}

interface RawRow {
  id: string;
  tenant: string;
  name: string;
  size_gb: number;
  capacity_bytes: number;
  state: VolumeRowState;
  created_at: string;
  last_attached_at: string | null;
  from_snapshot: string | null;
  bootable: number;
  image_config: string | null;
}

function fromRaw(r: RawRow): VolumeRow {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    sizeGb: r.size_gb,
    capacityBytes: r.capacity_bytes,
    state: r.state,
    createdAt: r.created_at,
    lastAttachedAt: r.last_attached_at,
    fromSnapshot: r.from_snapshot,
    bootable: r.bootable === 1,
    imageConfig: r.image_config,
  };
}

/** Volumes table access. */
export class VolumeRepo {
  constructor(private readonly db: Db) {}

  /** A restored volume takes the snapshot's imported image config (core/image-defaults.ts). */
  setImageConfig(id: string, imageConfig: string | null): void {
    this.db.prepare("UPDATE volumes SET image_config = ? WHERE id = ?").run(imageConfig, id);
  }

  /** Inserts a row; returns false when the tenant already has a volume of that name. */
  tryInsert(row: VolumeRow): boolean {
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO volumes (id, tenant, name, size_gb, capacity_bytes, state, created_at, last_attached_at, from_snapshot, bootable, image_config)
         VALUES (@id, @tenant, @name, @sizeGb, @capacityBytes, @state, @createdAt, @lastAttachedAt, @fromSnapshot, @bootable, @imageConfig)`,
      )
      .run({ ...row, fromSnapshot: row.fromSnapshot ?? null, bootable: row.bootable ? 1 : 0, imageConfig: row.imageConfig ?? null });
    return result.changes === 1;
  }

  /** By id, or by name when no id matches. Rows being created or deleted are invisible. */
  find(tenant: string, idOrName: string): VolumeRow | undefined {
    const raw = this.db
      .prepare("SELECT * FROM volumes WHERE tenant = ? AND state = 'ready' AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1")
      .get(tenant, idOrName, idOrName, idOrName) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  /** By id whatever its state and tenant. */
  byId(id: string): VolumeRow | undefined {
    const raw = this.db.prepare("SELECT * FROM volumes WHERE id = ?").get(id) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  list(tenant: string): VolumeRow[] {
    return (this.db.prepare("SELECT * FROM volumes WHERE tenant = ? AND state = 'ready' ORDER BY name").all(tenant) as RawRow[]).map(fromRaw);
  }

  /** GiB of all the tenant's volumes in every state, "creating" and "deleting" included (quotas). */
  totalGb(tenant: string): number {
    return (this.db.prepare("SELECT COALESCE(SUM(size_gb), 0) AS gb FROM volumes WHERE tenant = ?").get(tenant) as { gb: number }).gb;
  }

  /** Every row whatever its tenant and state (reconcile). */
  listAll(): VolumeRow[] {
    return (this.db.prepare("SELECT * FROM volumes").all() as RawRow[]).map(fromRaw);
  }

  setState(id: string, state: VolumeRowState): void {
    this.db.prepare("UPDATE volumes SET state = ? WHERE id = ?").run(state, id);
  }

  touchAttached(id: string, at: string): void {
    this.db.prepare("UPDATE volumes SET last_attached_at = ? WHERE id = ?").run(at, id);
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM volumes WHERE id = ?").run(id);
  }
}
