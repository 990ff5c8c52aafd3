import type { FastifyInstance } from "fastify";
import type { AuditLog } from "../core/audit-log.js";
import { parseLimit, parseSince } from "./insight-routes.js";

/**
 * `GET /v1/audit?tenant=&since=&limit=`: the audit trail, newest first (docs/operations.md,
 * "Audit trail"). Admin tokens see every tenant; others their own (another tenant: NOT_FOUND).
 */
export function registerAuditRoutes(app: FastifyInstance, audit: AuditLog): void {
  app.get<{ Querystring: { tenant?: string; since?: string; limit?: string } }>("/v1/audit", async (req) => {
    const tenant = typeof req.query.tenant === "string" && req.query.tenant !== "" ? req.query.tenant : undefined;
    return { entries: audit.list(req.principal, { tenant, since: parseSince(req.query.since), limit: parseLimit(req.query.limit) }) };
  });
}
