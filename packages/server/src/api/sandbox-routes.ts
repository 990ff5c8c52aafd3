import { parseOrThrow, volumeMountSchema } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import { forceOf, labelFilter, parseState } from "./query-params.js";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

/** /v1/sandboxes routes (see docs/architecture.md). */
export function registerSandboxRoutes(app: FastifyInstance, services: Services): void {
  const { sandboxes, attachments } = services;

  app.post("/v1/sandboxes", async (req, reply) => {
    reply.code(201);
    return sandboxes.create(req.principal.tenant, req.body ?? {});
  });

  app.get("/v1/sandboxes", async (req) => ({
    sandboxes: sandboxes.list(req.principal.tenant, { labels: labelFilter(req.query), state: parseState(req.query) }),
  }));

  app.get<IdParams>("/v1/sandboxes/:id", async (req) => sandboxes.get(req.principal.tenant, req.params.id));

  app.delete<IdParams>("/v1/sandboxes/:id", async (req) => sandboxes.kill(req.principal.tenant, req.params.id));

  app.post<IdParams>("/v1/sandboxes/:id/timeout", async (req) => sandboxes.extendTimeout(req.principal.tenant, req.params.id, req.body ?? {}));

  app.get<IdParams>("/v1/sandboxes/:id/env", async (req) => ({ env: sandboxes.getEnv(req.principal.tenant, req.params.id) }));

  app.patch<IdParams>("/v1/sandboxes/:id/env", async (req) => ({ env: sandboxes.patchEnv(req.principal.tenant, req.params.id, req.body ?? {}) }));

  app.post<IdParams>("/v1/sandboxes/:id/volumes", async (req) => {
    const tenant = req.principal.tenant;
    sandboxes.get(tenant, req.params.id); // SANDBOX_NOT_FOUND before anything else
    const mount = parseOrThrow(volumeMountSchema, req.body ?? {}, "volume mount");
    await attachments.attach(tenant, req.params.id, mount);
    return sandboxes.get(tenant, req.params.id);
  });

  app.delete<{ Params: { id: string; volumeId: string } }>("/v1/sandboxes/:id/volumes/:volumeId", async (req) => {
    const tenant = req.principal.tenant;
    sandboxes.get(tenant, req.params.id);
    await attachments.detach(tenant, req.params.id, req.params.volumeId, forceOf(req));
    return sandboxes.get(tenant, req.params.id);
  });
}
