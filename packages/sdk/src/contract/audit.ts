/** Wire types of the audit trail (`GET /v1/audit`, docs/operations.md "Audit trail"). */

/** One state-changing API call: who, what, on what, and how it ended. */
export interface AuditEntry {
  /** Increasing with time: newer entries have larger ids. */
  id: number;
  /** ISO time the answer was sent. */
  at: string;
  /** The tenant that acted ("" for a login with an unknown token). */
  tenant: string;
  /** The id of the token it used ("bootstrap" for the token file's; "" when unknown). Never a token's value. */
  tokenId: string;
  /** "sandbox.create", "sandbox.kill", "volume.create", "volume.delete", "volume.attach", "token.create", "login", … */
  action: string;
  /** What it acted on: ids or names from the request ("sbx_…", "sbx_…/vol_…"), or "". */
  target: string;
  /** "ok", or the error code the caller got. */
  outcome: string;
}

/** `GET /v1/audit`: newest first. */
export interface AuditList {
  entries: AuditEntry[];
}

/** Filters of `GET /v1/audit`. */
export interface AuditQuery {
  /** An admin token sees every tenant, or this one; any other token sees only its own tenant. */
  tenant?: string;
  /** A duration back from now ("1h", "7d") or an ISO time; default 24h. */
  since?: string;
  /** At most this many entries (1–1000, default 100). */
  limit?: number;
}
