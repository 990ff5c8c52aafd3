import type { Db } from "./database.js";

/** An API token as stored: only its hash, never the token. */
export interface TokenRow {
  id: string;
  tenant: string;
  name: string;
  hash: string;
  admin: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface RawRow {
  id: string;
  tenant: string;
  name: string;
  hash: string;
  admin: number;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const fromRaw = (r: RawRow): TokenRow => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  hash: r.hash,
  admin: r.admin === 1,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** Tokens table access. */
export class TokenRepo {
  constructor(private readonly db: Db) {}

  insert(row: Omit<TokenRow, "lastUsedAt" | "revokedAt">): void {
    this.db
      .prepare("INSERT INTO tokens (id, tenant, name, hash, admin, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(row.id, row.tenant, row.name, row.hash, row.admin ? 1 : 0, row.createdAt);
  }

  /** A live (not revoked) token by the hash of its value. */
  byHash(hash: string): TokenRow | undefined {
    const raw = this.db.prepare("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL").get(hash) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  byId(id: string): TokenRow | undefined {
    const raw = this.db.prepare("SELECT * FROM tokens WHERE id = ?").get(id) as RawRow | undefined;
    return raw && fromRaw(raw);
  }

  list(): TokenRow[] {
    return (this.db.prepare("SELECT * FROM tokens ORDER BY created_at").all() as RawRow[]).map(fromRaw);
  }

  revoke(id: string, at: string): boolean {
    return this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(at, id).changes === 1;
  }

  touch(id: string, at: string): void {
    this.db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?").run(at, id);
  }
}
