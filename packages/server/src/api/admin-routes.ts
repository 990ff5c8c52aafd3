import type { FastifyInstance } from "fastify";
import type { TokenService } from "../core/token-service.js";

/**
 * Admin API (admin tokens only; others get FORBIDDEN): API tokens bound to tenants, and
 * per-tenant quotas and network access. See docs/tenants.md.
 */
export function registerAdminRoutes(app: FastifyInstance, tokens: TokenService): void {
  app.post("/v1/tokens", async (req, reply) => {
    reply.code(201);
    return tokens.create(req.principal, req.body ?? {});
  });
  app.get("/v1/tokens", async (req) => ({ tokens: tokens.list(req.principal) }));
  app.delete<{ Params: { id: string } }>("/v1/tokens/:id", async (req) => tokens.revoke(req.principal, req.params.id));
  app.get("/v1/tenants", async (req) => ({ tenants: tokens.listTenants(req.principal) }));
  app.put<{ Params: { name: string } }>("/v1/tenants/:name/quota", async (req) => tokens.setQuota(req.principal, req.params.name, req.body ?? {}));
  app.put<{ Params: { name: string } }>("/v1/tenants/:name/net", async (req) => tokens.setNetOpen(req.principal, req.params.name, req.body ?? {}));
}
