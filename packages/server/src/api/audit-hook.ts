import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AuditLog } from "../core/audit-log.js";
import { type RequestOutcome, outcomeOf } from "./request-outcome.js";

/** Action names of the state-changing routes (docs/operations.md, "Audit trail"). */
const ACTIONS: Readonly<Record<string, string>> = {
  "POST /v1/sandboxes": "sandbox.create",
  "DELETE /v1/sandboxes/:id": "sandbox.kill",
  "POST /v1/sandboxes/:id/timeout": "sandbox.timeout",
  "PATCH /v1/sandboxes/:id/env": "sandbox.env",
  "POST /v1/sandboxes/:id/allow-net": "sandbox.allow-net",
  "POST /v1/sandboxes/:id/expose": "sandbox.expose",
  "POST /v1/sandboxes/:id/volumes": "volume.attach",
  "DELETE /v1/sandboxes/:id/volumes/:volumeId": "volume.detach",
  "POST /v1/volumes": "volume.create",
  "DELETE /v1/volumes/:id": "volume.delete",
  "POST /v1/tokens": "token.create",
  "DELETE /v1/tokens/:id": "token.revoke",
  "PUT /v1/tenants/:name/quota": "tenant.quota",
  "PUT /v1/tenants/:name/net": "tenant.net",
  "POST /login": "login",
  "POST /v1/volumes/import": "volume.import",
};
/** Reads recorded all the same: an export copies a volume's data off the host (issue 17). */
const AUDITED_READS: Readonly<Record<string, string>> = { "GET /v1/volumes/:id/export": "volume.export" };
const CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The action a request is recorded under, or undefined when it is not audited: reads, file
 * operations, sandbox.fetch and commands (the data plane; commands have their own log), and requests that never
 * showed a valid token (except logins, which are recorded either way). State-changing /v1 routes
 * not in ACTIONS (added later, such as snapshots) are recorded as "METHOD /route".
 */
export function auditAction(method: string, route: string | undefined): string | undefined {
  if (route === undefined) return undefined;
  const read = AUDITED_READS[`${method} ${route}`];
  if (read !== undefined) return read;
  if (!CHANGING.has(method)) return undefined;
  const known = ACTIONS[`${method} ${route}`];
  if (known !== undefined) return known;
  if (!route.startsWith("/v1/") || route.includes("/fs/") || route.endsWith("/fetch")) return undefined;
  return `${method} ${route}`;
}

/**
 * Records every state-changing API call in the audit trail, in one place (hooks) rather than in
 * each route: who (tenant, token id), the action, the target (route parameters; for creates the
 * new id; for attach the volume too) and the outcome. Never a body, so never a token's value or a
 * secret. A call that reached its handler is recorded when its connection closes, also when the
 * client went away first (outcome "ABORTED": what the handler did still happened); one refused
 * before (a body that is not JSON) when its answer is sent.
 */
export function registerAuditHook(app: FastifyInstance, audit: AuditLog): void {
  const handled = new WeakSet<FastifyRequest>();
  const record = (req: FastifyRequest, action: string, outcome: RequestOutcome) => {
    const principal = req.principal as FastifyRequest["principal"] | null;
    if (!principal && action !== "login") return;
    audit.record({
      tenant: principal?.tenant ?? "",
      tokenId: principal?.tokenId ?? "",
      action,
      target: targetOf(req, outcome.createdId),
      outcome: outcome.outcome,
    });
  };
  app.addHook("preHandler", async (req, reply) => {
    const action = auditAction(req.method, req.routeOptions.url);
    if (action === undefined) return;
    handled.add(req);
    reply.raw.once("close", () => record(req, action, reply.raw.writableFinished ? outcomeOf(req, reply.statusCode) : { outcome: "ABORTED" }));
  });
  app.addHook("onResponse", async (req, reply) => {
    const action = auditAction(req.method, req.routeOptions.url);
    if (action !== undefined && !handled.has(req)) record(req, action, outcomeOf(req, reply.statusCode));
  });
}

function targetOf(req: FastifyRequest, createdId: string | undefined): string {
  if (createdId !== undefined) return createdId;
  const parts = Object.values((req.params ?? {}) as Record<string, unknown>).filter((v): v is string => typeof v === "string");
  const mounted = (req.body as { id?: unknown } | undefined)?.id;
  if (req.routeOptions.url === "/v1/sandboxes/:id/volumes" && typeof mounted === "string") parts.push(mounted);
  return parts.join("/");
}
