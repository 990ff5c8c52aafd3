import type { SessionRecords } from "../api/session-cookie.js";
import type { Db } from "./database.js";

/**
 * Dashboard logins (api/session-cookie.ts): one row per session cookie issued, removed at log
 * out, on revocation of its token, or once expired (swept when a new login is recorded).
 */
export class DashboardSessionRepo implements SessionRecords {
  constructor(private readonly db: Db) {}

  add(id: string, tokenId: string, expiresAtMs: number): void {
    this.db.prepare("DELETE FROM dashboard_sessions WHERE expires_at <= ?").run(Date.now());
    this.db.prepare("INSERT OR REPLACE INTO dashboard_sessions (id, token_id, expires_at) VALUES (?, ?, ?)").run(id, tokenId, expiresAtMs);
  }

  has(id: string, nowMs: number): boolean {
    return this.db.prepare("SELECT 1 FROM dashboard_sessions WHERE id = ? AND expires_at > ?").get(id, nowMs) !== undefined;
  }

  remove(id: string): void {
    this.db.prepare("DELETE FROM dashboard_sessions WHERE id = ?").run(id);
  }

  removeForToken(tokenId: string): void {
    this.db.prepare("DELETE FROM dashboard_sessions WHERE token_id = ?").run(tokenId);
  }
}
