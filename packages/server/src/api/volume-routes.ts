import type { FastifyInstance } from "fastify";
import { forceOf } from "./query-params.js";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

/** /v1/volumes routes (see docs/architecture.md). */
export function registerVolumeRoutes(app: FastifyInstance, { volumes }: Services): void {
  app.post("/v1/volumes", async (req, reply) => {
    reply.code(201);
    return volumes.create(req.principal.tenant, req.body ?? {});
  });
  app.get("/v1/volumes", async (req) => ({ volumes: await volumes.list(req.principal.tenant) }));
  app.get<IdParams>("/v1/volumes/:id", async (req) => volumes.get(req.principal.tenant, req.params.id));
  app.delete<IdParams>("/v1/volumes/:id", async (req) => volumes.delete(req.principal.tenant, req.params.id, forceOf(req)));
  app.post<IdParams>("/v1/volumes/:id/restore", async (req) => volumes.restore(req.principal.tenant, req.params.id, req.body ?? {}));
}
