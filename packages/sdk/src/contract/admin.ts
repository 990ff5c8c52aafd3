/** Wire types and schemas of the admin API: tenants, their quotas, and API tokens. */
import { z } from "zod";

const tenantName = z
  .string({ message: "tenant is required: 1-63 characters of a-z 0-9 - _ ." })
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "tenant must be 1-63 characters of a-z 0-9 - _ . starting with a letter or digit");

/** Body of POST /v1/tokens. */
export const createTokenSchema = z.strictObject({
  tenant: tenantName,
  name: z.string().min(1).max(100).optional(),
  /** Admin tokens manage tokens and quotas; they act in their own tenant otherwise. */
  admin: z.boolean().optional(),
});
export type CreateTokenRequest = z.input<typeof createTokenSchema>;

/** Body of PUT /v1/tenants/:name/quota; null removes a limit. */
export const tenantQuotaSchema = z.strictObject({
  maxSandboxes: z.number().int().min(0).max(100_000).nullable(),
  maxVolumeGb: z.number().min(0).max(1_048_576).nullable(),
});
export type TenantQuotaRequest = z.input<typeof tenantQuotaSchema>;

/**
 * Body of PUT /v1/tenants/:name/net: the closed destination ranges this tenant's sandboxes may
 * reach after all, as range categories ("metadata", "private", "link-local", "loopback",
 * "cgnat", "documentation", "nat64", "multicast", "reserved") or CIDRs. [] closes them all again.
 */
export const tenantNetSchema = z.strictObject({
  open: z.array(z.string().min(1).max(64)).max(64),
});
export type TenantNetRequest = z.input<typeof tenantNetSchema>;

export const tenantNameSchema = tenantName;

/** A token as listed (never its value). */
export interface TokenInfo {
  id: string;
  tenant: string;
  name: string;
  admin: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The answer to POST /v1/tokens: the only time the token's value is shown. */
export interface CreatedToken extends TokenInfo {
  token: string;
}

export interface TenantInfo {
  name: string;
  maxSandboxes: number | null;
  maxVolumeGb: number | null;
  /** Sandboxes running now. */
  sandboxes: number;
  /** Sum of the sizes of the tenant's volumes, GiB. */
  volumeGb: number;
  /** Closed ranges an admin opened for this tenant (docs/network.md, "Closed ranges"). */
  netOpen: string[];
}
