import type { FastifyInstance } from "fastify";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

/**
 * Snapshot routes (docs/snapshots.md): `POST /v1/volumes/:id/snapshots` takes one,
 * `/v1/snapshots` lists (`?volume=` one volume's), inspects and deletes them.
 */
export function registerSnapshotRoutes(app: FastifyInstance, { snapshots }: Services): void {
  app.post<IdParams>("/v1/volumes/:id/snapshots", async (req, reply) => {
    reply.code(201);
    return snapshots.create(req.principal.tenant, req.params.id, req.body ?? {});
  });
  app.get<IdParams>("/v1/volumes/:id/snapshots", async (req) => ({ snapshots: await snapshots.list(req.principal.tenant, req.params.id) }));
  app.get("/v1/snapshots", async (req) => ({ snapshots: await snapshots.list(req.principal.tenant) }));
  app.get<IdParams>("/v1/snapshots/:id", async (req) => snapshots.get(req.principal.tenant, req.params.id));
  app.delete<IdParams>("/v1/snapshots/:id", async (req) => snapshots.delete(req.principal.tenant, req.params.id));
}
