import { NotFoundError, type AuditEntry } from "atoll/contract";
import type { Logger } from "pino";
import type { AuditRepo } from "../store/audit-repo.js";
import type { Principal } from "./token-service.js";

/** Retention and the per-tenant cap (`--audit-retention`, ATOLL_AUDIT_MAX_PER_TENANT). */
export interface AuditOptions {
  /** Entries older than this are deleted (default 90 days). */
  retentionMs: number;
  /** Each tenant keeps at most about this many entries, the newest (default 100,000). */
  maxPerTenant: number;
}

/** A tenant's entries are trimmed to the cap after every TRIM_EVERY of its inserts. */
const TRIM_EVERY = 100;
const PRUNE_EVERY_MS = 3_600_000;
/** Longest tenant, token id, action, target and outcome kept. */
const FIELD_MAX = 200;
/** Values that look like a token (ours: 64 hex digits, `atl_` + 64 hex) are never stored. */
const TOKEN_LIKE = /(atl_)?[0-9a-f]{64}/gi;

/** What the API hook reports of one call. */
export type AuditRecord = Omit<AuditEntry, "id" | "at">;

/**
 * The audit trail: one row per state-changing API call (the API's hook, api/audit-hook.ts,
 * reports them), read with `GET /v1/audit`. Bounded: entries older than the retention are
 * pruned every hour, and each tenant keeps at most `maxPerTenant` rows (a tenant making millions
 * of calls only pushes out its own oldest ones), so the table holds at most tenants × cap rows.
 *
 * @example audit.record({ tenant: "team-a", tokenId: "tok_1", action: "volume.create", target: "vol_1", outcome: "ok" });
 */
export class AuditLog {
  private readonly sinceTrim = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { repo: AuditRepo; logger: Logger; options: AuditOptions; now?: () => Date }) {}

  /** Stores one entry; a failure is logged, never thrown (the call it records already happened). */
  record(e: AuditRecord): void {
    try {
      const entry = {
        at: this.now().toISOString(),
        tenant: clean(e.tenant),
        tokenId: clean(e.tokenId),
        action: clean(e.action),
        target: clean(e.target),
        outcome: clean(e.outcome),
      };
      this.deps.repo.insert(entry);
      const n = (this.sinceTrim.get(entry.tenant) ?? 0) + 1;
      if (n < TRIM_EVERY) this.sinceTrim.set(entry.tenant, n);
      else {
        this.sinceTrim.delete(entry.tenant);
        this.deps.repo.trimTenant(entry.tenant, this.deps.options.maxPerTenant);
      }
    } catch (err) {
      this.deps.logger.warn({ err, action: e.action }, "audit: recording failed");
    }
  }

  /**
   * Entries since `since`, newest first. Admins see every tenant (or `tenant`); anyone else only
   * their own, and asking for another tenant answers NOT_FOUND, as for a tenant that does not
   * exist (docs/tenants.md: 404, never 403).
   */
  list(by: Principal, query: { tenant?: string | undefined; since: Date; limit: number }): AuditEntry[] {
    if (!by.admin && query.tenant !== undefined && query.tenant !== by.tenant) {
      throw new NotFoundError("NOT_FOUND", `No tenant "${clean(query.tenant)}" here: a token sees the audit trail of its own tenant (${by.tenant}).`);
    }
    const tenant = by.admin ? query.tenant : by.tenant;
    return this.deps.repo.list({ tenant, since: query.since.toISOString(), limit: query.limit });
  }

  /** Prunes now and every hour. */
  start(): void {
    if (this.timer) return;
    this.prune();
    this.timer = setInterval(() => this.prune(), PRUNE_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Deletes entries past the retention; returns how many. */
  prune(): number {
    try {
      const n = this.deps.repo.pruneBefore(new Date(this.now().getTime() - this.deps.options.retentionMs).toISOString());
      if (n > 0) this.deps.logger.info({ entries: n }, "audit: old entries pruned");
      return n;
    } catch (err) {
      this.deps.logger.warn({ err }, "audit: pruning failed");
      return 0;
    }
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/** A field as stored: token-like values redacted, control characters dropped, at most FIELD_MAX characters. */
function clean(value: string): string {
  return value
    .replace(TOKEN_LIKE, "[token]")
    .replace(/\p{Cc}/gu, "")
    .slice(0, FIELD_MAX);
}
