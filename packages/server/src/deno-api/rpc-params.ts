/** Validation of JSON-RPC params: a bad one is the JSON-RPC error "Invalid params" (-32602). */
import { describeIssues } from "atoll/contract";
import type { z } from "zod";

export class RpcParamsError extends Error {}

/** Parses `params` with `schema` or throws RpcParamsError naming every problem. */
export function parseParams<S extends z.ZodType>(schema: S, params: unknown): z.output<S> {
  const r = schema.safeParse(params);
  if (!r.success) throw new RpcParamsError(`Invalid params: ${describeIssues(r.error)}`);
  return r.data;
}
