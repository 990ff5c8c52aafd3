/**
 * `POST /v1/images/import?name=&sizeGb=` (docs/images.md "Importing an image"): the image archive
 * is the raw request body (application/x-tar or application/octet-stream), streamed to the
 * import service; the answer is the bootable snapshot it became (201).
 */
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { InvalidArgumentError } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import type { ImageImportService } from "../core/image-import-service.js";

/** Registers the image import route. */
export function registerImageRoutes(app: FastifyInstance, images: ImageImportService): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser(["application/octet-stream", "application/x-tar"], (_req, payload, done) => done(null, payload));
    scope.post("/v1/images/import", async (req, reply) => {
      const body = req.body as unknown;
      if (!(body instanceof Readable))
        throw new InvalidArgumentError("Send the image archive as the raw request body with content-type application/x-tar or application/octet-stream.");
      const q = req.query as { name?: unknown; sizeGb?: unknown };
      const input = { name: q.name, ...(q.sizeGb === undefined ? {} : { sizeGb: Number(q.sizeGb) }) };
      try {
        const snap = await images.import(req.principal.tenant, input, body);
        reply.code(201);
        return snap;
      } finally {
        // A refused upload is read to its end, so the client gets to read the answer.
        if (!body.readableEnded && !body.destroyed) {
          body.resume();
          await finished(body).catch(() => undefined);
        }
      }
    });
  });
}
