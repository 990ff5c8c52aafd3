import type { Db } from "./database.js";

/** A tenant and its quotas (null: no limit). */
export interface TenantRow {
  name: string;
  maxSandboxes: number | null;
  maxVolumeGb: number | null;
  createdAt: string;
  /** Closed range categories or CIDRs an admin opened for this tenant. */
  netOpen: string[];
}

interface RawRow {
  name: string;
  max_sandboxes: number | null;
  max_volume_gb: number | null;
  created_at: string;
  net_open: string;
}

const fromRaw = (r: RawRow): TenantRow => ({
  name: r.name,
  maxSandboxes: r.max_sandboxes,
  maxVolumeGb: r.max_volume_gb,
  createdAt: r.created_at,
  netOpen: JSON.parse(r.net_open) as string[],
});

/** Tenants table access. */
export class TenantRepo {
  constructor(private readonly db: Db) {}

  /** Creates the tenant if it does not exist yet. */
  ensure(name: string, at: string): void {
    this.db.prepare("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)").run(name, at);
  }

  get(name: string): TenantRow | undefined {
    const raw = this.db.prepare("SELECT * FROM tenants WHERE name = ?").get(name) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  list(): TenantRow[] {
    return (this.db.prepare("SELECT * FROM tenants ORDER BY name").all() as RawRow[]).map(fromRaw);
  }

  setQuota(name: string, quota: { maxSandboxes: number | null; maxVolumeGb: number | null }): void {
    this.db.prepare("UPDATE tenants SET max_sandboxes = ?, max_volume_gb = ? WHERE name = ?").run(quota.maxSandboxes, quota.maxVolumeGb, name);
  }

  setNetOpen(name: string, open: readonly string[]): void {
    this.db.prepare("UPDATE tenants SET net_open = ? WHERE name = ?").run(JSON.stringify(open), name);
  }
}
