import { InvalidArgumentError, parseDuration } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

const DEFAULT_HISTORY_MS = 86_400_000;
const MAX_COMMANDS = 1000;

/** `?since=` as a duration back from now ("24h", "90m") or an ISO time; default 24 hours. */
export function parseSince(raw: unknown, now = Date.now()): Date {
  if (raw === undefined || raw === "") return new Date(now - DEFAULT_HISTORY_MS);
  if (typeof raw === "string") {
    const d = parseDuration(raw);
    if (d.ok) return new Date(now - d.value);
    const t = Date.parse(raw);
    if (!Number.isNaN(t) && /^\d{4}-\d{2}-\d{2}/.test(raw)) return new Date(t);
  }
  throw new InvalidArgumentError(`since must be a duration back from now ("24h", "90m") or an ISO time, got ${JSON.stringify(raw)}`);
}

/** `?limit=` between 1 and MAX_COMMANDS; default 100. */
export function parseLimit(raw: unknown): number {
  if (raw === undefined || raw === "") return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_COMMANDS)
    throw new InvalidArgumentError(`limit must be a whole number from 1 to ${MAX_COMMANDS}, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Read-only views for monitoring (the dashboard uses them, so can anyone with the token):
 * live sandbox figures, a sandbox's command log, a volume's usage history, the daemon's uptime.
 */
export function registerInsightRoutes(app: FastifyInstance, services: Services): void {
  const { sandboxes, volumes, monitor, commandLog, usage, daemon } = services;

  // The daemon's process id is the operator's business: tenants get the rest.
  app.get("/v1/daemon", async (req) => {
    const info = daemon.info();
    if (req.principal.admin) return info;
    const { pid: _pid, ...rest } = info;
    return rest;
  });

  app.get<IdParams>("/v1/sandboxes/:id/stats", async (req) => monitor.stats(req.principal.tenant, req.params.id));

  app.get<IdParams & { Querystring: { limit?: string } }>("/v1/sandboxes/:id/commands", async (req) => {
    const limit = parseLimit(req.query.limit);
    sandboxes.get(req.principal.tenant, req.params.id); // SANDBOX_NOT_FOUND, also for other tenants' ids
    return { commands: commandLog.list(req.params.id, limit) };
  });

  app.get<IdParams & { Querystring: { since?: string } }>("/v1/volumes/:id/usage", async (req) => {
    const since = parseSince(req.query.since);
    const row = volumes.find(req.principal.tenant, req.params.id);
    const live = await volumes.info(row);
    const samples = usage.history(row.id, since);
    samples.push({ at: new Date().toISOString(), usedBytes: live.usedBytes });
    return { volumeId: row.id, capacityBytes: row.capacityBytes, samples };
  });
}
