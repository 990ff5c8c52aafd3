import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import {
  AuthenticationError,
  InvalidArgumentError,
  NotFoundError,
  createTokenSchema,
  parseOrThrow,
  tenantNameSchema,
  tenantNetSchema,
  tenantQuotaSchema,
  type CreatedToken,
  type TenantInfo,
  type TokenInfo,
} from "atoll/contract";
import type { Logger } from "pino";
import type { SandboxRepo } from "../store/sandbox-repo.js";
import type { TenantRepo } from "../store/tenant-repo.js";
import type { TokenRepo, TokenRow } from "../store/token-repo.js";
import type { VolumeRepo } from "../store/volume-repo.js";
import { nowIso } from "./ids.js";

/** Who made a request: their tenant, whether they may administer, and which token they used. */
export interface Principal {
  tenant: string;
  admin: boolean;
  /** "bootstrap" for the token file's token. */
  tokenId: string;
  /** The dashboard login, when the request came with the session cookie. */
  sessionId?: string;
}

/** The tenant of the token file's token. */
export const DEFAULT_TENANT = "default";
const BOOTSTRAP_ID = "bootstrap";
/** last_used_at is written at most this often per token (it is informational). */
const TOUCH_EVERY_MS = 60_000;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

function toInfo(row: TokenRow): TokenInfo {
  return { id: row.id, tenant: row.tenant, name: row.name, admin: row.admin, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt, revokedAt: row.revokedAt };
}

/**
 * API tokens and tenants. The token in `<state>/token` is the admin token of tenant "default";
 * an admin creates more tokens, each bound to one tenant, and sets per-tenant quotas. Only the
 * SHA-256 of a created token is stored; its value is shown once.
 */
export class TokenService {
  private readonly bootstrap: Buffer;
  private readonly touched = new Map<string, number>();
  private readonly revokeListeners = new Set<(tokenId: string) => void>();

  constructor(
    private readonly deps: {
      tokens: TokenRepo;
      tenants: TenantRepo;
      sandboxes: SandboxRepo;
      volumes: VolumeRepo;
      adminToken: string;
      logger: Logger;
      /**
       * Checks and normalises a tenant's open list, and applies it to the tenant's running
       * sandboxes (NetworkService). Without networking, lists are refused.
       */
      netAccess?: { normalize(open: readonly string[]): string[]; apply(tenant: string): Promise<void> } | undefined;
    },
  ) {
    this.bootstrap = Buffer.from(deps.adminToken);
    deps.tenants.ensure(DEFAULT_TENANT, nowIso());
  }

  /** The principal a token value stands for, or undefined for an unknown or revoked one. */
  verify(value: string): Principal | undefined {
    const given = Buffer.from(value);
    if (given.length === this.bootstrap.length && timingSafeEqual(given, this.bootstrap)) {
      return { tenant: DEFAULT_TENANT, admin: true, tokenId: BOOTSTRAP_ID };
    }
    // A hash lookup: comparing digests of a 256-bit secret leaks nothing usable through timing.
    const row = this.deps.tokens.byHash(sha256(value));
    if (!row) return undefined;
    const now = Date.now();
    if (now - (this.touched.get(row.id) ?? 0) > TOUCH_EVERY_MS) {
      this.touched.set(row.id, now);
      this.deps.tokens.touch(row.id, new Date(now).toISOString());
    }
    return { tenant: row.tenant, admin: row.admin, tokenId: row.id };
  }

  /**
   * Whether `value` is a live API token, without marking it used: the expose proxy never
   * forwards one to a sandbox.
   */
  recognizes(value: string): boolean {
    const given = Buffer.from(value);
    if (given.length === this.bootstrap.length && timingSafeEqual(given, this.bootstrap)) return true;
    return this.deps.tokens.byHash(sha256(value)) !== undefined;
  }

  /** Calls `listener(tokenId)` right after a token is revoked; returns the unsubscribe function. */
  onRevoke(listener: (tokenId: string) => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  /** true while the token behind a dashboard session is still valid (not revoked). */
  isLive(tokenId: string): boolean {
    if (tokenId === BOOTSTRAP_ID) return true;
    const row = this.deps.tokens.byId(tokenId);
    return !!row && row.revokedAt === null;
  }

  create(by: Principal, input: unknown): CreatedToken {
    requireAdmin(by);
    const req = parseOrThrow(createTokenSchema, input, "token");
    const at = nowIso();
    this.deps.tenants.ensure(req.tenant, at);
    const token = `atl_${randomBytes(32).toString("hex")}`;
    const row = {
      id: `tok_${randomBytes(10).toString("hex")}`,
      tenant: req.tenant,
      name: req.name ?? req.tenant,
      hash: sha256(token),
      admin: req.admin ?? false,
      createdAt: at,
    };
    this.deps.tokens.insert(row);
    this.deps.logger.info({ tokenId: row.id, tenant: row.tenant, admin: row.admin, by: by.tokenId }, "token created");
    return { ...toInfo({ ...row, lastUsedAt: null, revokedAt: null }), token };
  }

  list(by: Principal): TokenInfo[] {
    requireAdmin(by);
    return this.deps.tokens.list().map(toInfo);
  }

  revoke(by: Principal, id: string): TokenInfo {
    requireAdmin(by);
    const row = this.deps.tokens.byId(id);
    if (!row || row.revokedAt !== null)
      throw new NotFoundError("NOT_FOUND", `No live token with id "${id}"; list tokens with \`atoll token ls\`.`, { tokenId: id });
    this.deps.tokens.revoke(id, nowIso());
    this.deps.logger.info({ tokenId: id, by: by.tokenId }, "token revoked");
    // Open sockets, streams and dashboard sessions of the token end now (api/live-credentials.ts).
    for (const l of this.revokeListeners) {
      try {
        l(id);
      } catch (err) {
        this.deps.logger.warn({ err, tokenId: id }, "revocation listener failed");
      }
    }
    return toInfo(this.deps.tokens.byId(id)!);
  }

  setQuota(by: Principal, tenant: string, input: unknown): TenantInfo {
    requireAdmin(by);
    const name = parseOrThrow(tenantNameSchema, tenant, "tenant name");
    const quota = parseOrThrow(tenantQuotaSchema, input, "quota");
    this.deps.tenants.ensure(name, nowIso());
    this.deps.tenants.setQuota(name, quota);
    return this.tenantInfo(name);
  }

  /** Replaces the closed ranges opened for a tenant (docs/tenants.md, "Network access"). */
  async setNetOpen(by: Principal, tenant: string, input: unknown): Promise<TenantInfo> {
    requireAdmin(by);
    const name = parseOrThrow(tenantNameSchema, tenant, "tenant name");
    const req = parseOrThrow(tenantNetSchema, input, "network access");
    const netAccess = this.deps.netAccess;
    if (!netAccess) throw new InvalidArgumentError("This daemon runs without sandbox networking (--network off): there are no destinations to open");
    const open = netAccess.normalize(req.open);
    this.deps.tenants.ensure(name, nowIso());
    this.deps.tenants.setNetOpen(name, open);
    this.deps.logger.info({ tenant: name, open, by: by.tokenId }, "tenant network access changed");
    await netAccess.apply(name);
    return this.tenantInfo(name);
  }

  listTenants(by: Principal): TenantInfo[] {
    requireAdmin(by);
    return this.deps.tenants.list().map((t) => this.tenantInfo(t.name));
  }

  private tenantInfo(name: string): TenantInfo {
    const t = this.deps.tenants.get(name)!;
    return {
      name,
      maxSandboxes: t.maxSandboxes,
      maxVolumeGb: t.maxVolumeGb,
      netOpen: t.netOpen,
      sandboxes: this.deps.sandboxes.list(name).filter((s) => s.state !== "stopped").length,
      volumeGb: this.deps.volumes.list(name).reduce((sum, v) => sum + v.sizeGb, 0),
    };
  }
}

function requireAdmin(by: Principal): void {
  if (!by.admin) throw new AuthenticationError("FORBIDDEN", "This needs an admin token (the daemon's token file, or a token created with --admin).");
}
