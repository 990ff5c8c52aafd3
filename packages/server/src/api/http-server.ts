import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { authenticate, type Principal } from "./auth.js";
import { toWireError } from "./error-mapping.js";
import { buildOpenApi } from "./openapi.js";
import { registerSandboxRoutes } from "./sandbox-routes.js";
import type { Services } from "./services.js";
import { registerSessionSocket } from "./session-socket.js";
import { registerVolumeRoutes } from "./volume-routes.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** Paths served without a token. */
const PUBLIC_PATHS = new Set(["/healthz"]);

/**
 * The daemon's HTTP server: auth on every route but /healthz, JSON errors with stable codes,
 * REST routes, the session WebSocket and the OpenAPI document.
 */
export async function buildHttpServer(opts: { services: Services; token: string; logger: Logger; version: string }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.logger as FastifyBaseLogger, disableRequestLogging: true, bodyLimit: 1024 * 1024 });
  await app.register(websocket, {
    options: {
      maxPayload: 16 * 1024 * 1024,
      // Runtimes whose WebSocket cannot send headers authenticate with a subprotocol.
      handleProtocols: (protocols: Set<string>) => (protocols.has("atoll.v1") ? "atoll.v1" : false),
    },
  });

  app.decorateRequest("principal", null as unknown as Principal);
  app.addHook("onRequest", async (req) => {
    const path = req.url.split("?")[0]!;
    if (PUBLIC_PATHS.has(path)) return;
    req.principal = authenticate(req.headers, opts.token);
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body, internal } = toWireError(err);
    if (internal) req.log.error({ err, url: req.url }, "request failed");
    else req.log.debug({ code: body.error.code, url: req.url }, "request refused");
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: "NOT_FOUND", message: `No route ${req.method} ${req.url.split("?")[0]}; see /v1/openapi.json` } });
  });

  app.get("/healthz", async () => ({ ok: true }));
  const openapi = buildOpenApi(opts.version);
  app.get("/v1/openapi.json", async () => openapi);
  registerSandboxRoutes(app, opts.services);
  registerVolumeRoutes(app, opts.services);
  registerSessionSocket(app, opts.services);
  return app;
}
