import { isApiErrorCode } from "atoll/contract";
import type { FastifyInstance, FastifyRequest } from "fastify";

/** How a request ended, as the metrics and the audit trail record it. */
export interface RequestOutcome {
  /** "ok", or the error code the client got. */
  outcome: string;
  /** The `id` of what a create answered with (a new sandbox, volume or token), when it did. */
  createdId?: string;
}

/** Error and create bodies are read only up to this length (ours are far smaller). */
const MAX_READ = 64 * 1024;
const outcomes = new WeakMap<FastifyRequest, RequestOutcome>();

/**
 * Notes every answer's outcome (one onSend hook for all routes, so no route reports its own):
 * the `error.code` of an error body, and the `id` of a 201 answer. Only those two fields are
 * read; nothing else of a body (a created token's secret) is kept.
 */
export function trackOutcomes(app: FastifyInstance): void {
  app.addHook("onSend", async (req, reply, payload) => {
    const status = reply.statusCode;
    if (status < 400 && status !== 201) return payload;
    const body = typeof payload === "string" && payload.length <= MAX_READ ? parseJson(payload) : undefined;
    if (status >= 400) {
      const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
      // Only the API's own codes: the set of outcomes (metric labels) stays finite whatever a body says.
      outcomes.set(req, { outcome: typeof code === "string" && isApiErrorCode(code) ? code : byStatus(status) });
    } else {
      const id = (body as { id?: unknown } | undefined)?.id;
      outcomes.set(req, { outcome: "ok", ...(typeof id === "string" && id.length <= 128 ? { createdId: id } : {}) });
    }
    return payload;
  });
}

/** The outcome of an answered request (call it in onResponse). */
export function outcomeOf(req: FastifyRequest, statusCode: number): RequestOutcome {
  return outcomes.get(req) ?? { outcome: statusCode < 400 ? "ok" : byStatus(statusCode) };
}

/** The outcome of an error answer without an error body (the dashboard's HTML pages). */
function byStatus(status: number): string {
  return status === 401 ? "UNAUTHORIZED" : status === 403 ? "FORBIDDEN" : `HTTP_${status}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
