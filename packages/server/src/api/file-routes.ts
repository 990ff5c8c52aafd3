/**
 * The file API (docs/files.md, docs/architecture.md "HTTP API"): the same routes under
 * `/v1/sandboxes/:id/fs` and `/v1/volumes/:id/fs`. Bytes and tars stream in both directions
 * without being held in memory: request bodies of type application/octet-stream and
 * application/x-tar reach the handlers as the raw stream (no body limit applies), and responses
 * are streams fed as fast as the client reads.
 */
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { FS_SIZE_HEADER, InvalidArgumentError, fsOpSchema, fsPathQuerySchema, fsWalkQuerySchema, fsWriteQuerySchema, parseOrThrow } from "atoll/contract";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FileService, FsPlace } from "../core/file-service.js";
import { toWireError } from "./error-mapping.js";

type Req = FastifyRequest<{ Params: { id: string } }>;

/** Raw request body of an upload: the stream itself, never buffered. */
function bodyStream(req: FastifyRequest): Readable {
  const body = req.body as unknown;
  if (body === undefined || body === null) return Readable.from([]);
  if (body instanceof Readable) return body;
  throw new InvalidArgumentError("Send the contents as the raw request body with content-type application/octet-stream (files) or application/x-tar (tars)");
}

/** Reads and drops what is left of an upload, so the client gets to read our answer. */
async function drain(req: FastifyRequest): Promise<void> {
  const body = req.body as unknown;
  if (body instanceof Readable && !body.readableEnded && !body.destroyed) {
    body.resume();
    await finished(body).catch(() => undefined);
  }
}

/** NDJSON lines of an entry stream; an error part way becomes a last `{"error":…}` line. */
async function* ndjson(entries: Readable, req: FastifyRequest): AsyncGenerator<string> {
  try {
    let batch = "";
    for await (const entry of entries) {
      batch += `${JSON.stringify(entry)}\n`;
      if (batch.length > 32 * 1024) {
        yield batch;
        batch = "";
      }
    }
    if (batch) yield batch;
  } catch (err) {
    const { body, internal } = toWireError(err, req.id);
    if (internal) req.log.error({ err, url: req.url }, "file listing failed part way");
    yield `${JSON.stringify({ error: body.error })}\n`;
  }
}

/** Registers the file routes of sandboxes and volumes. */
export function registerFileRoutes(app: FastifyInstance, files: FileService): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser(["application/octet-stream", "application/x-tar"], (_req, payload, done) => done(null, payload));

    for (const kind of ["sandboxes", "volumes"] as const) {
      const prefix = `/v1/${kind}/:id/fs`;
      const place = (req: Req, user: "app" | "root"): FsPlace => ({
        kind: kind === "sandboxes" ? "sandbox" : "volume",
        tenant: req.principal.tenant,
        id: req.params.id,
        user,
      });
      const userOf = (req: FastifyRequest) => {
        const u = (req.query as { user?: unknown }).user;
        if (u === undefined || u === "app" || u === "root") return (u ?? "app") as "app" | "root";
        throw new InvalidArgumentError('user must be "app" or "root"');
      };

      scope.post<{ Params: { id: string } }>(`${prefix}/op`, async (req) => {
        return files.op(place(req, userOf(req)), parseOrThrow(fsOpSchema, req.body ?? {}, "file operation"));
      });

      scope.get<{ Params: { id: string } }>(`${prefix}/file`, async (req, reply: FastifyReply) => {
        const q = parseOrThrow(fsPathQuerySchema, req.query, "file query");
        const { size, data } = await files.read(place(req, q.user), q.path);
        return reply.type("application/octet-stream").header(FS_SIZE_HEADER, String(size)).send(data);
      });

      scope.put<{ Params: { id: string } }>(`${prefix}/file`, async (req) => {
        try {
          const q = parseOrThrow(fsWriteQuerySchema, req.query, "write query");
          const body = bodyStream(req);
          return await files.write(place(req, q.user), q, body);
        } catch (err) {
          await drain(req);
          throw err;
        }
      });

      scope.get<{ Params: { id: string } }>(`${prefix}/dir`, async (req, reply: FastifyReply) => {
        const q = parseOrThrow(fsPathQuerySchema, req.query, "readDir query");
        const entries = await files.readDir(place(req, q.user), q.path);
        return reply.type("application/x-ndjson").send(Readable.from(ndjson(entries, req)));
      });

      scope.get<{ Params: { id: string } }>(`${prefix}/walk`, async (req, reply: FastifyReply) => {
        const q = parseOrThrow(fsWalkQuerySchema, req.query, "walk query");
        const entries = await files.walk(place(req, q.user), q.path, q.maxDepth, q.followSymlinks);
        return reply.type("application/x-ndjson").send(Readable.from(ndjson(entries, req)));
      });

      scope.get<{ Params: { id: string } }>(`${prefix}/tar`, async (req, reply: FastifyReply) => {
        const q = parseOrThrow(fsPathQuerySchema, req.query, "tar query");
        const data = await files.tarOut(place(req, q.user), q.path);
        return reply.type("application/x-tar").send(data);
      });

      scope.put<{ Params: { id: string } }>(`${prefix}/tar`, async (req) => {
        try {
          const q = parseOrThrow(fsPathQuerySchema, req.query, "tar query");
          const body = bodyStream(req);
          return await files.tarIn(place(req, q.user), q.path, body);
        } catch (err) {
          await drain(req);
          throw err;
        }
      });
    }
  });
}
