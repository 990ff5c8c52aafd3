import { AtollError, isApiErrorCode, statusOf, type WireError } from "atoll/contract";

/**
 * Turns anything thrown while serving a request into the status and body the client gets.
 * Atoll errors keep their code; errors of drivers that carry an API `code` (storage errors)
 * keep theirs; Fastify's own request errors become INVALID_ARGUMENT, NOT_FOUND or
 * PAYLOAD_TOO_LARGE; anything else is INTERNAL (and logged by the caller).
 */
export function toWireError(err: unknown): { status: number; body: { error: WireError }; internal: boolean } {
  if (err instanceof AtollError) {
    const wire = err.toWire();
    return { status: statusOf(wire.code), body: { error: wire }, internal: wire.code === "INTERNAL" };
  }
  const e = err as { code?: unknown; message?: unknown; details?: unknown; statusCode?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  if (isApiErrorCode(e?.code)) {
    const details = typeof e.details === "object" && e.details !== null ? (e.details as Record<string, unknown>) : undefined;
    return { status: statusOf(e.code), body: { error: { code: e.code, message, ...(details ? { details } : {}) } }, internal: false };
  }
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.statusCode === 413 ? "PAYLOAD_TOO_LARGE" : e.statusCode === 404 ? "NOT_FOUND" : e.statusCode === 405 ? "METHOD_NOT_ALLOWED" : "INVALID_ARGUMENT";
    return { status: statusOf(code), body: { error: { code, message: `Bad request: ${message}` } }, internal: false };
  }
  return { status: 500, body: { error: { code: "INTERNAL", message: `Internal error: ${message}` } }, internal: true };
}
