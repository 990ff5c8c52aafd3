import { AtollError, internalWireError, isApiErrorCode, statusOf, type ApiErrorCode, type WireError } from "atoll/contract";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Turns anything thrown while serving a request into the status and body the client gets.
 * Atoll errors with an API code keep it. Fastify's own request errors (a `FST_…` code and a 4xx
 * `statusCode`: bad JSON, body too large, bad URL; or the client resetting while it sent the
 * body) become INVALID_ARGUMENT, NOT_FOUND, METHOD_NOT_ALLOWED or PAYLOAD_TOO_LARGE. Anything
 * else, Atoll errors with an internal code included, is INTERNAL with a message that says
 * nothing about the host, naming the request `ref`; `internal: true` tells the caller to log the
 * error with its cause chain. No other object's `code` is trusted.
 */
export function toWireError(err: unknown, ref?: string): { status: number; body: { error: WireError }; internal: boolean } {
  if (err instanceof AtollError && isApiErrorCode(err.code)) {
    const wire = err.toWire();
    return { status: statusOf(wire.code), body: { error: wire }, internal: wire.code === "INTERNAL" };
  }
  const code = frameworkCode(err);
  if (code) return { status: statusOf(code), body: { error: { code, message: `Bad request: ${(err as Error).message}` } }, internal: false };
  return { status: 500, body: { error: internalWireError(ref) }, internal: true };
}

/** The API code of an error Fastify raised about the request itself, or undefined. */
function frameworkCode(err: unknown): ApiErrorCode | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof statusCode !== "number" || statusCode < 400 || statusCode >= 500) return undefined;
  if (typeof code !== "string" || !(code.startsWith("FST_") || code === "ECONNRESET")) return undefined;
  return statusCode === 413 ? "PAYLOAD_TOO_LARGE" : statusCode === 404 ? "NOT_FOUND" : statusCode === 405 ? "METHOD_NOT_ALLOWED" : "INVALID_ARGUMENT";
}

/**
 * The API's error handler: answers with toWireError's status and body, and logs an internal
 * failure at error level with its whole cause chain (pino's err serializer writes every
 * `cause`'s message and stack), refusals at debug.
 */
export function replyWithError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const { status, body, internal } = toWireError(err, req.id);
  if (internal) req.log.error({ err, url: req.url }, "request failed");
  else req.log.debug({ code: body.error.code, url: req.url }, "request refused");
  void reply.code(status).send(body);
}
