/**
 * The admin API: API tokens bound to tenants, and per-tenant quotas. Needs an admin token.
 */
import type {
  AuditEntry,
  AuditList,
  AuditQuery,
  CreateTokenRequest,
  CreatedToken,
  TenantInfo,
  TenantNetRequest,
  TenantQuotaRequest,
  TokenInfo,
} from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";

/**
 * `client.admin`: manage tokens and quotas.
 *
 * @example
 *   const admin = new Client().admin;
 *   const { token } = await admin.createToken({ tenant: "team-a" });
 *   await admin.setQuota("team-a", { maxSandboxes: 10, maxVolumeGb: 50 });
 */
export class AdminClient {
  constructor(private readonly http: HttpClient) {}

  /**
   * Creates a token for a tenant (created on first use). The value is returned only here.
   *
   * @example const { id, token } = await client.admin.createToken({ tenant: "ci", name: "runner" });
   */
  createToken(request: CreateTokenRequest): Promise<CreatedToken> {
    return this.http.request<CreatedToken>("POST", "/v1/tokens", { body: request });
  }

  /** @example for (const t of await client.admin.listTokens()) console.log(t.id, t.tenant); */
  async listTokens(): Promise<TokenInfo[]> {
    return (await this.http.request<{ tokens: TokenInfo[] }>("GET", "/v1/tokens")).tokens;
  }

  /** Revokes a token at once: requests with it fail with UNAUTHORIZED. @example await client.admin.revokeToken("tok_…"); */
  revokeToken(id: string): Promise<TokenInfo> {
    return this.http.request<TokenInfo>("DELETE", `/v1/tokens/${seg(id)}`);
  }

  /** @example const tenants = await client.admin.listTenants(); */
  async listTenants(): Promise<TenantInfo[]> {
    return (await this.http.request<{ tenants: TenantInfo[] }>("GET", "/v1/tenants")).tenants;
  }

  /**
   * Sets a tenant's limits; `null` removes one.
   *
   * @example await client.admin.setQuota("team-a", { maxSandboxes: 5, maxVolumeGb: null });
   */
  setQuota(tenant: string, quota: TenantQuotaRequest): Promise<TenantInfo> {
    return this.http.request<TenantInfo>("PUT", `/v1/tenants/${seg(tenant)}/quota`, { body: quota });
  }

  /**
   * Opens closed destination ranges (cloud metadata, private networks, …; docs/network.md) to
   * a tenant's sandboxes, by category or CIDR. Replaces the previous list; `[]` closes them all
   * again. Running sandboxes of the tenant follow at once.
   *
   * @example await client.admin.setNetAccess("team-a", { open: ["private", "169.254.169.254/32", "metadata"] });
   */
  setNetAccess(tenant: string, access: TenantNetRequest): Promise<TenantInfo> {
    return this.http.request<TenantInfo>("PUT", `/v1/tenants/${seg(tenant)}/net`, { body: access });
  }

  /**
   * The audit trail, newest first: who created, killed, attached, deleted, changed what, and how
   * it ended. An admin token sees every tenant (or `tenant`); any other token its own tenant.
   *
   * @example const entries = await client.admin.audit({ since: "1h" }); // [{ at, tenant, tokenId, action, target, outcome }]
   */
  async audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString() === "" ? "" : `?${params}`;
    return (await this.http.request<AuditList>("GET", `/v1/audit${qs}`)).entries;
  }
}
