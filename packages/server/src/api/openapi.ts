import { z } from "zod";
import { exposeHttpSchema, setAllowNetSchema } from "atoll/contract";
import { fileApiPaths } from "./file-openapi.js";
import { backupApiPaths } from "./backup-openapi.js";
import { volumeInfoSchema } from "./volume-openapi.js";
import {
  createSandboxSchema,
  createTokenSchema,
  createVolumeSchema,
  tenantQuotaSchema,
  tenantNetSchema,
  envPatchSchema,
  extendTimeoutSchema,
  volumeMountSchema,
} from "atoll/contract";

/** JSON Schema of a request body, from the same zod schema the daemon validates with. */
const body = (schema: z.ZodType) => ({
  required: true,
  content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) } },
});

const ok = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });
const errors = {
  "4XX": { description: 'Error: `{ "error": { "code", "message", "details" } }` (codes in packages/sdk/src/contract/error-codes.ts)' },
};
const volumeRef = { $ref: "#/components/schemas/VolumeInfo" };
const volume = (description: string) => ({ description, content: { "application/json": { schema: volumeRef } } });
const volumeList = {
  description: "{ volumes: VolumeInfo[] }",
  content: { "application/json": { schema: { type: "object", properties: { volumes: { type: "array", items: volumeRef } } } } },
};
const id = (name: string) => ({ name, in: "path", required: true, schema: { type: "string" } });
const force = { name: "force", in: "query", required: false, schema: { type: "boolean" } };

/**
 * The OpenAPI 3.1 description served at /v1/openapi.json. Request bodies are generated from the
 * contract's zod schemas, so they cannot drift from what the daemon accepts.
 */
export function buildOpenApi(version: string): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: { title: "Atoll API", version, description: "Self-hosted sandboxes with persistent volumes. See docs/api.md." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } }, schemas: { VolumeInfo: volumeInfoSchema } },
    security: [{ bearer: [] }],
    paths: {
      ...fileApiPaths(),
      ...backupApiPaths(),
      "/healthz": { get: { security: [], summary: "Readiness (no token)", responses: { 200: ok("ready") } } },
      "/v1/sandboxes": {
        post: { summary: "Create a sandbox", requestBody: body(createSandboxSchema), responses: { 201: ok("SandboxInfo"), ...errors } },
        get: {
          summary: "List sandboxes",
          parameters: [
            { name: "label", in: "query", schema: { type: "array", items: { type: "string" } }, description: "k=v, repeatable" },
            { name: "state", in: "query", schema: { enum: ["starting", "running", "stopped"] } },
          ],
          responses: { 200: ok("{ sandboxes: SandboxInfo[] }"), ...errors },
        },
      },
      "/v1/sandboxes/{id}": {
        get: { summary: "Inspect a sandbox", parameters: [id("id")], responses: { 200: ok("SandboxInfo"), ...errors } },
        delete: { summary: "Kill a sandbox", parameters: [id("id")], responses: { 200: ok("SandboxInfo"), ...errors } },
      },
      "/v1/sandboxes/{id}/timeout": {
        post: {
          summary: "Extend or set the lifetime",
          parameters: [id("id")],
          requestBody: body(extendTimeoutSchema),
          responses: { 200: ok("SandboxInfo"), ...errors },
        },
      },
      "/v1/sandboxes/{id}/env": {
        get: { summary: "Sandbox environment", parameters: [id("id")], responses: { 200: ok("{ env }"), ...errors } },
        patch: { summary: "Set or delete variables", parameters: [id("id")], requestBody: body(envPatchSchema), responses: { 200: ok("{ env }"), ...errors } },
      },
      "/v1/sandboxes/{id}/session": {
        get: {
          summary: "Session WebSocket: process I/O (docs/architecture.md)",
          parameters: [id("id")],
          responses: { 101: { description: "Switching protocols" }, ...errors },
        },
      },
      "/v1/sandboxes/{id}/allow-net": {
        post: {
          summary: "Replace the egress policy (docs/network.md)",
          parameters: [id("id")],
          requestBody: body(setAllowNetSchema),
          responses: { 200: ok("SandboxInfo"), ...errors },
        },
      },
      "/v1/sandboxes/{id}/expose": {
        post: {
          summary: "Serve a sandbox port at an unguessable URL",
          parameters: [id("id")],
          requestBody: body(exposeHttpSchema),
          responses: { 200: ok("ExposedPort"), ...errors },
        },
      },
      "/v1/sandboxes/{id}/fetch": {
        post: {
          summary: "An HTTP request made from inside the sandbox's network (headers x-atoll-url, x-atoll-method, x-atoll-headers; raw body)",
          parameters: [id("id")],
          responses: { 200: { description: "The upstream response, marked x-atoll-fetch: 1" }, ...errors },
        },
      },
      "/v1/sandboxes/{id}/volumes": {
        post: {
          summary: "Attach a volume to a running sandbox",
          parameters: [id("id")],
          requestBody: body(volumeMountSchema),
          responses: { 200: ok("SandboxInfo"), ...errors },
        },
      },
      "/v1/sandboxes/{id}/volumes/{volumeId}": {
        delete: { summary: "Detach a volume", parameters: [id("id"), id("volumeId"), force], responses: { 200: ok("SandboxInfo"), ...errors } },
      },
      "/v1/sandboxes/{id}/stats": {
        get: { summary: "Live memory, CPU time and processes of a running sandbox", parameters: [id("id")], responses: { 200: ok("SandboxStats"), ...errors } },
      },
      "/v1/sandboxes/{id}/commands": {
        get: {
          summary: "Commands the sandbox ran, newest first",
          parameters: [id("id"), { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } }],
          responses: { 200: ok("{ commands: CommandLogEntry[] }"), ...errors },
        },
      },
      "/v1/daemon": {
        get: {
          summary: "This daemon: version, schema version, start time and uptime, how the previous run ended",
          responses: { 200: ok("DaemonInfo"), ...errors },
        },
      },
      "/v1/volumes/{id}/usage": {
        get: {
          summary: "Used bytes over time (sampled by the daemon), then the live figure",
          parameters: [
            id("id"),
            { name: "since", in: "query", schema: { type: "string" }, description: 'duration back from now ("24h") or ISO time; default 24h' },
          ],
          responses: { 200: ok("VolumeUsageHistory"), ...errors },
        },
      },
      "/v1/volumes": {
        post: { summary: "Create a volume", requestBody: body(createVolumeSchema), responses: { 201: volume("VolumeInfo"), ...errors } },
        get: { summary: "List volumes", responses: { 200: volumeList, ...errors } },
      },
      "/v1/volumes/{id}": {
        get: { summary: "Inspect a volume (id or name)", parameters: [id("id")], responses: { 200: volume("VolumeInfo"), ...errors } },
        delete: { summary: "Delete a volume", parameters: [id("id"), force], responses: { 200: volume("VolumeInfo"), ...errors } },
      },
      "/v1/tokens": {
        post: {
          summary: "Create an API token for a tenant (admin; the value is shown once)",
          requestBody: body(createTokenSchema),
          responses: { 201: ok("CreatedToken"), ...errors },
        },
        get: { summary: "List tokens (admin)", responses: { 200: ok("{ tokens: TokenInfo[] }"), ...errors } },
      },
      "/v1/tokens/{id}": {
        delete: { summary: "Revoke a token (admin)", parameters: [id("id")], responses: { 200: ok("TokenInfo"), ...errors } },
      },
      "/v1/tenants": {
        get: { summary: "Tenants with usage and quotas (admin)", responses: { 200: ok("{ tenants: TenantInfo[] }"), ...errors } },
      },
      "/v1/tenants/{name}/quota": {
        put: {
          summary: "Set a tenant's quotas (admin)",
          parameters: [id("name")],
          requestBody: body(tenantQuotaSchema),
          responses: { 200: ok("TenantInfo"), ...errors },
        },
      },
      "/v1/tenants/{name}/net": {
        put: {
          summary: "Open closed destination ranges to a tenant's sandboxes (admin; docs/network.md)",
          parameters: [id("name")],
          requestBody: body(tenantNetSchema),
          responses: { 200: ok("TenantInfo"), ...errors },
        },
      },
    },
  };
}
