import type { SandboxState } from "atoll/contract";
import type { FastifyRequest } from "fastify";

/** Labels filter from `?label=k=v&label=k2=v2`. */
export function labelFilter(query: unknown): Record<string, string> {
  const raw = (query as { label?: string | string[] }).label;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return Object.fromEntries(
    list.map((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? [l, ""] : [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
}

/** `?state=running|stopped|starting`, anything else means all. */
export function parseState(query: unknown): SandboxState | undefined {
  const s = (query as { state?: string }).state;
  return s === "running" || s === "stopped" || s === "starting" ? s : undefined;
}

/** `?force=true`. */
export const forceOf = (req: FastifyRequest): boolean => (req.query as { force?: string }).force === "true";
