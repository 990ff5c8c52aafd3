import type { AuditEntry } from "atoll/contract";
import type { Db } from "./database.js";

interface RawRow {
  id: number;
  at: string;
  tenant: string;
  token_id: string;
  action: string;
  target: string;
  outcome: string;
}

const fromRaw = (r: RawRow): AuditEntry => ({
  id: r.id,
  at: r.at,
  tenant: r.tenant,
  tokenId: r.token_id,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
});

/** The audit_log table: append, read newest first, retention and a per-tenant row cap. */
export class AuditRepo {
  constructor(private readonly db: Db) {}

  insert(e: Omit<AuditEntry, "id">): void {
    this.db
      .prepare("INSERT INTO audit_log (at, tenant, token_id, action, target, outcome) VALUES (?, ?, ?, ?, ?, ?)")
      .run(e.at, e.tenant, e.tokenId, e.action, e.target, e.outcome);
  }

  /** Entries at or after `since`, newest first; of one tenant, or of all when `tenant` is undefined. */
  list(filter: { tenant?: string | undefined; since: string; limit: number }): AuditEntry[] {
    const rows =
      filter.tenant === undefined
        ? this.db.prepare("SELECT * FROM audit_log WHERE at >= ? ORDER BY id DESC LIMIT ?").all(filter.since, filter.limit)
        : this.db.prepare("SELECT * FROM audit_log WHERE tenant = ? AND at >= ? ORDER BY id DESC LIMIT ?").all(filter.tenant, filter.since, filter.limit);
    return (rows as RawRow[]).map(fromRaw);
  }

  /** Deletes entries older than `before`; returns how many. */
  pruneBefore(before: string): number {
    return this.db.prepare("DELETE FROM audit_log WHERE at < ?").run(before).changes;
  }

  /** Keeps the newest `keep` entries of a tenant, deleting the older ones; returns how many went. */
  trimTenant(tenant: string, keep: number): number {
    const edge = this.db.prepare("SELECT id FROM audit_log WHERE tenant = ? ORDER BY id DESC LIMIT 1 OFFSET ?").get(tenant, keep) as { id: number } | undefined;
    if (!edge) return 0;
    return this.db.prepare("DELETE FROM audit_log WHERE tenant = ? AND id <= ?").run(tenant, edge.id).changes;
  }
}
