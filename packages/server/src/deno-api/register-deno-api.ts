/**
 * Deno Sandbox's wire protocol as a second front door onto the same services
 * (docs/deno-wire-protocol.md): `@deno/sandbox` pointed at this daemon with
 * DENO_SANDBOX_ENDPOINT / DENO_DEPLOY_ENDPOINT and an Atoll token works unchanged. Routes live in
 * their own Fastify scope so errors take Deno's shape; the API's token check (http-server.ts)
 * runs first as on every route, so tokens, tenants and quotas are Atoll's.
 */
import type { IncomingMessage } from "node:http";
import { CapacityError } from "atoll/contract";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Services } from "../api/services.js";
import type { SessionSocketLimits } from "../api/session-socket.js";
import { afterEnding } from "./after-ending.js";
import { createRequestFromHeader } from "./create-config.js";
import { denoRestError } from "./deno-errors.js";
import { fromDenoSandboxId, toDenoSandboxId } from "./deno-ids.js";
import { DenoRpcConnection } from "./rpc-connection.js";
import { registerDenoRestRoutes } from "./deno-rest-routes.js";

/** The sandbox a Deno upgrade request opens (set before the upgrade, read by the "headers" hook). */
const SANDBOX_ID = Symbol("deno-sandbox-id");
type Tagged = IncomingMessage & { [SANDBOX_ID]?: string };

export async function registerDenoApi(app: FastifyInstance, services: Services, limits?: SessionSocketLimits): Promise<void> {
  // Deno's client reads the sandbox id from the upgrade response's x-deno-sandbox-id header.
  app.websocketServer.on("headers", (headers: string[], req: Tagged) => {
    const id = req[SANDBOX_ID];
    if (id !== undefined) headers.push(`x-deno-sandbox-id: ${toDenoSandboxId(id)}`);
  });
  await app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => {
      const { status, body, internal } = denoRestError(err, req.id);
      if (internal) req.log.error({ err, url: req.url }, "Deno API request failed");
      void reply.code(status).send(body);
    });

    /** Holds one of the token's session sockets (the cap Atoll's sessions share) until the socket closes. */
    const reserve = (req: FastifyRequest) => {
      if (!limits) return;
      const release = limits.live.reserveSession(req.principal.tokenId, limits.maxPerToken);
      if (!release) {
        throw new CapacityError(
          "QUOTA_EXCEEDED",
          `This token already has ${limits.maxPerToken} open session sockets (ATOLL_MAX_SESSIONS_PER_TOKEN): close sandboxes you no longer use.`,
        );
      }
      req.raw.socket.once("close", release);
    };
    const connection = (req: FastifyRequest) => (socket: import("ws").WebSocket) => {
      const sandboxId = (req.raw as Tagged)[SANDBOX_ID]!;
      try {
        new DenoRpcConnection(socket, { tenant: req.principal.tenant, sandboxId, services, log: req.log });
      } catch {
        // It stopped between the upgrade and now.
        socket.close(1000, "sandbox stopped");
      }
    };

    scope.get(
      "/api/v3/sandboxes/create",
      {
        websocket: true,
        preValidation: async (req) => {
          if (!req.ws) return;
          const input = createRequestFromHeader(req.headers["x-deno-sandbox-config"]);
          reserve(req);
          // A `root` volume a just-closed sandbox booted from is released as that sandbox ends.
          const info = await afterEnding(services.sandboxes, () => services.sandboxes.create(req.principal.tenant, input));
          (req.raw as Tagged)[SANDBOX_ID] = info.id;
        },
      },
      (socket, req) => connection(req)(socket),
    );
    scope.get<{ Params: { id: string } }>(
      "/api/v3/sandbox/:id/connect",
      {
        websocket: true,
        preValidation: async (req) => {
          if (!req.ws) return;
          const id = fromDenoSandboxId(req.params.id);
          services.sandboxes.assertRunning(req.principal.tenant, id);
          reserve(req);
          (req.raw as Tagged)[SANDBOX_ID] = id;
        },
      },
      (socket, req) => connection(req)(socket),
    );
    registerDenoRestRoutes(scope, services);
  });
}
