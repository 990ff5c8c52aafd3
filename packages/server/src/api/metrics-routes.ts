import { timingSafeEqual } from "node:crypto";
import { AuthenticationError } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { tokenFromHeaders, type TokenVerifier } from "./auth.js";
import { outcomeOf } from "./request-outcome.js";

/** The metrics endpoint: the onRequest auth hook lets it through, it checks its own tokens. */
export const METRICS_PATH = "/metrics";

/**
 * `GET /metrics` (Prometheus text format) for the scrape token (`<state-dir>/metrics-token`) or
 * an admin token, nothing else: tenants' tokens and dashboard cookies get UNAUTHORIZED or
 * FORBIDDEN. Also the hooks that move the API's counters: sandbox creates (starting, outcome,
 * create → ready time) and errors by code.
 */
export function registerMetricsRoutes(app: FastifyInstance, opts: { metrics: DaemonMetrics; tokens: TokenVerifier; scrapeToken: string }): void {
  const { metrics } = opts;
  const scrape = Buffer.from(opts.scrapeToken);
  app.get(METRICS_PATH, async (req, reply) => {
    const given = tokenFromHeaders(req.headers);
    if (given === undefined)
      throw new AuthenticationError("UNAUTHORIZED", "Send the scrape token (<state-dir>/metrics-token) or an admin token as `Authorization: Bearer <token>`.");
    const buf = Buffer.from(given);
    const isScrape = buf.length === scrape.length && timingSafeEqual(buf, scrape);
    if (!isScrape) {
      const principal = opts.tokens.verify(given);
      if (!principal) throw new AuthenticationError("UNAUTHORIZED", "Wrong or revoked token: use <state-dir>/metrics-token or an admin token.");
      if (!principal.admin)
        throw new AuthenticationError("FORBIDDEN", "Metrics are for the operator: use the scrape token (<state-dir>/metrics-token) or an admin token.");
    }
    const text = await metrics.registry.metrics();
    return reply.header("content-type", metrics.registry.contentType).header("cache-control", "no-store").send(text);
  });

  // preHandler runs once auth passed and the body was read: from here the create is "starting",
  // until its answer is sent or its client went away ("ABORTED"; the sandbox may still start).
  app.addHook("preHandler", async (req, reply) => {
    if (!(req.method === "POST" && req.routeOptions.url === "/v1/sandboxes")) return;
    const tenant = req.principal.tenant;
    metrics.createStarted(tenant);
    reply.raw.once("close", () => {
      const outcome = reply.raw.writableFinished ? outcomeOf(req, reply.statusCode).outcome : "ABORTED";
      metrics.createEnded(tenant, outcome, reply.elapsedTime / 1000);
    });
  });
  app.addHook("onResponse", async (req, reply) => {
    const { outcome } = outcomeOf(req, reply.statusCode);
    if (outcome !== "ok") metrics.apiError(outcome);
  });
}
