/**
 * Volume backups (docs/api.md, docs/operations.md "Back up and restore"):
 * `GET /v1/volumes/:id/export[?snapshot=]` answers the archive as a stream;
 * `POST /v1/volumes/import?name=N[&sizeGb=G]` takes one as the raw request body (any content
 * type; never buffered, no body limit) and answers 201 with the new volume.
 */
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { InvalidArgumentError, VOLUME_ARCHIVE_TYPE } from "atoll/contract";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { BackupService } from "../core/backup-service.js";

/** Reads and drops what is left of an upload, so the client gets to read our answer. */
async function drain(req: FastifyRequest): Promise<void> {
  const body = req.body as unknown;
  if (body instanceof Readable && !body.readableEnded && !body.destroyed) {
    body.resume();
    await finished(body).catch(() => undefined);
  }
}

export function registerBackupRoutes(app: FastifyInstance, backups: BackupService): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    scope.get<{ Params: { id: string } }>("/v1/volumes/:id/export", async (req, reply) => {
      const { header, stream } = await backups.export(req.principal.tenant, req.params.id, req.query);
      const file = `${header.volume.name}-${header.exportedAt.replace(/[:.]/g, "-")}.atollvol`;
      return reply.type(VOLUME_ARCHIVE_TYPE).header("content-disposition", `attachment; filename="${file}"`).send(stream);
    });

    scope.post("/v1/volumes/import", async (req, reply) => {
      try {
        const body = req.body as unknown;
        if (!(body instanceof Readable)) throw new InvalidArgumentError(`Send the archive as the raw request body (content-type ${VOLUME_ARCHIVE_TYPE}).`);
        const info = await backups.import(req.principal.tenant, req.query, body);
        reply.code(201);
        return info;
      } catch (err) {
        await drain(req);
        throw err;
      }
    });
  });
}
