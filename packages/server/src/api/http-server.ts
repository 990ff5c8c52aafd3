import http from "node:http";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, LogController } from "fastify";
import type { Logger } from "pino";
import type { TokenService } from "../core/token-service.js";
import { registerAdminRoutes } from "./admin-routes.js";
import { authenticateRequest, type Principal } from "./auth.js";
import { replyWithError, toWireError } from "./error-mapping.js";
import { guardConnections } from "./connection-guard.js";
import { LiveCredentials } from "./live-credentials.js";
import { registerNetworkRoutes } from "./network-routes.js";
import { registerFileRoutes } from "./file-routes.js";
import { registerBackupRoutes } from "./backup-routes.js";
import { registerInsightRoutes } from "./insight-routes.js";
import { buildOpenApi } from "./openapi.js";
import { registerSandboxRoutes } from "./sandbox-routes.js";
import type { Services } from "./services.js";
import { SessionCookies, type SessionRecords } from "./session-cookie.js";
import { registerSessionSocket } from "./session-socket.js";
import { registerVolumeRoutes } from "./volume-routes.js";
import { registerSnapshotRoutes } from "./snapshot-routes.js";
import { registerImageRoutes } from "./image-routes.js";
import { METRICS_PATH, registerMetricsRoutes } from "./metrics-routes.js";
import { trackOutcomes } from "./request-outcome.js";
import type { AuditLog } from "../core/audit-log.js";
import { registerAuditHook } from "./audit-hook.js";
import { registerAuditRoutes } from "./audit-routes.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import type { HttpLimits } from "./web-config.js";
import { registerDenoApi } from "../deno-api/register-deno-api.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** Paths served without a token. */
const PUBLIC_PATHS = new Set(["/healthz"]);

/**
 * A web front served on the API's server (the dashboard, dashboard/register-dashboard.ts): it
 * uses the API's auth and its session cookies; paths it calls public skip the token check
 * (they decide about access themselves).
 */
export interface HttpFront {
  isPublicPath(path: string): boolean;
  register(app: FastifyInstance, ctx: { sessions: SessionCookies; live: LiveCredentials }): Promise<void>;
}

/**
 * The daemon's HTTP server: auth on every route but /healthz, JSON errors with stable codes,
 * REST routes, the session WebSocket and the OpenAPI document.
 */
export async function buildHttpServer(opts: {
  services: Services;
  /** The token file's token: keys the dashboard's session cookies. */
  token: string;
  /** Verifies every request's token (tenants, revocation). */
  tokens: TokenService;
  logger: Logger;
  version: string;
  /** Web fronts served next to the API (the daemon's dashboard). */
  fronts?: readonly HttpFront[];
  /** Per-client caps and timeouts (docs/api.md "Limits"). */
  limits: HttpLimits;
  /** Server-side records of dashboard logins (the store's; in memory when omitted). */
  sessionRecords?: SessionRecords;
  /** `GET /metrics` and the counters the API moves (docs/operations.md, "Metrics"); absent: no /metrics. */
  metrics?: { metrics: DaemonMetrics; scrapeToken: string };
  /** The audit trail: every state-changing call is recorded, GET /v1/audit reads it (docs/operations.md). */
  audit?: AuditLog;
}): Promise<FastifyInstance> {
  const { limits } = opts;
  const fronts = opts.fronts ?? [];
  const live = new LiveCredentials();
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Exposed sandbox ports are not served here: they have listeners of their own (expose-gateway.ts).
    serverFactory: (handler) => {
      const server = http.createServer(
        { headersTimeout: limits.headersTimeoutMs, requestTimeout: 0, connectionsCheckingInterval: 1000, keepAliveTimeout: 72_000 },
        handler,
      );
      guardConnections(server, limits.connectionsPerAddress, (client) => opts.logger.debug({ client }, "API: connection refused (per-address cap)"));
      // Errors of the listening socket itself (accept failing with EMFILE under a flood, …) are
      // logged; without a listener Node would throw them and end the daemon.
      server.on("error", (err) => opts.logger.warn({ err }, "API listener error"));
      return server;
    },
    // Routing errors Fastify raises before any handler (bad URL encoding, over-long ids) get the
    // same error body and codes as everything else.
    frameworkErrors: (err, _req, reply) => {
      const { status, body } = toWireError(err);
      void (reply as unknown as FastifyReply).code(status).send(body);
    },
  });
  await app.register(websocket, {
    // On shutdown every socket is told "service restart" (1012): sandboxes outlive the daemon, so
    // the SDK reconnects once a daemon is back (docs/api.md, "Daemon restarts").
    preClose(done) {
      for (const client of app.websocketServer.clients) client.close(1012, "daemon restarting");
      app.websocketServer.close(() => done());
    },
    options: {
      maxPayload: 16 * 1024 * 1024,
      // Runtimes whose WebSocket cannot send headers authenticate with a subprotocol.
      handleProtocols: (protocols: Set<string>) => (protocols.has("atoll.v1") ? "atoll.v1" : false),
    },
  });

  app.decorateRequest("principal", null as unknown as Principal);
  // Bearer token, or the dashboard's session cookie (with its CSRF rules; docs/dashboard.md).
  const sessions = new SessionCookies(opts.token, undefined, opts.sessionRecords);
  app.addHook("onRequest", async (req, reply) => {
    // Until a request shows a valid token it must arrive whole within publicRequestTimeoutMs
    // (/login, /healthz, refused requests whose body is still being read): a slow body from
    // someone without a token holds nothing for long.
    const deadline = setTimeout(() => req.raw.socket?.destroy(), limits.publicRequestTimeoutMs);
    const clear = () => clearTimeout(deadline);
    reply.raw.once("close", clear);
    reply.raw.once("finish", () => (req.raw.complete ? clear() : req.raw.once("end", clear)));
    const path = req.url.split("?")[0]!;
    if (PUBLIC_PATHS.has(path) || fronts.some((f) => f.isPublicPath(path))) return;
    if (path === METRICS_PATH && opts.metrics) return; // its own tokens (metrics-routes.ts)
    req.principal = authenticateRequest(req, opts.tokens, sessions);
    clear();
    // Revoking the token (or logging out) cuts what this request holds open.
    const untrack = live.track(req.principal, () => req.raw.socket?.destroy());
    if (req.raw.headers.upgrade !== undefined) req.raw.socket.once("close", untrack);
    else reply.raw.once("close", untrack);
  });
  const stopListening = opts.tokens.onRevoke((tokenId) => {
    sessions.endForToken(tokenId);
    const ended = live.endToken(tokenId);
    opts.logger.info({ tokenId, ended }, "revoked token: open connections closed");
  });
  app.addHook("onClose", async () => stopListening());

  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: "NOT_FOUND", message: `No route ${req.method} ${req.url.split("?")[0]}; see /v1/openapi.json` } });
  });

  trackOutcomes(app);
  if (opts.metrics) registerMetricsRoutes(app, { ...opts.metrics, tokens: opts.tokens });
  if (opts.audit) {
    registerAuditHook(app, opts.audit);
    registerAuditRoutes(app, opts.audit);
  }
  app.get("/healthz", async () => ({ ok: true }));
  const openapi = buildOpenApi(opts.version);
  app.get("/v1/openapi.json", async () => openapi);
  registerSandboxRoutes(app, opts.services);
  registerVolumeRoutes(app, opts.services);
  registerSnapshotRoutes(app, opts.services);
  if (opts.services.images) registerImageRoutes(app, opts.services.images);
  registerNetworkRoutes(app, opts.services);
  registerSessionSocket(app, opts.services, { live, maxPerToken: limits.sessionsPerToken });
  registerInsightRoutes(app, opts.services);
  registerAdminRoutes(app, opts.tokens);
  registerFileRoutes(app, opts.services.files);
  // Deno Sandbox's wire protocol, a second front door (docs/deno-wire-protocol.md).
  await registerDenoApi(app, opts.services, { live, maxPerToken: limits.sessionsPerToken });
  if (opts.services.backups) registerBackupRoutes(app, opts.services.backups);
  for (const front of fronts) await front.register(app, { sessions, live });
  return app;
}
