/**
 * The sandbox options Deno's client sends when it opens `/api/v3/sandboxes/create`: base64 JSON in
 * the `x-deno-sandbox-config` header (docs/deno-wire-protocol.md). Turned into Atoll's create
 * request; SandboxService.create validates that one as it validates every other.
 */
import { InvalidArgumentError, describeIssues } from "atoll/contract";
import { z } from "zod";

/** Header value bound (Node's own header limit is 16 KiB in all). */
const CONFIG_MAX_CHARS = 12 * 1024;

const denoConfigSchema = z.strictObject({
  stop_at_ms: z.number().int().positive().optional(),
  memory_mb: z.number().int().positive().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  root: z.strictObject({ volume: z.string().min(1).max(128) }).optional(),
  volumes: z
    .array(z.strictObject({ volume: z.string().min(1).max(128), path: z.string().min(1).max(4096) }))
    .max(32)
    .optional(),
  allow_net: z.array(z.string()).max(1024).optional(),
  secrets: z.record(z.string(), z.unknown()).optional(),
});

/**
 * Atoll's create request for a Deno config header; `now` is the daemon's clock (stop_at_ms is
 * an absolute time). No header means Deno's defaults.
 *
 * @example createRequestFromHeader(btoa(JSON.stringify({ memory_mb: 1280 }))) // { memoryMb: 1280 }
 */
export function createRequestFromHeader(header: string | string[] | undefined, now = Date.now()): Record<string, unknown> {
  if (header === undefined) return {};
  if (typeof header !== "string" || header.length > CONFIG_MAX_CHARS) {
    throw new InvalidArgumentError(`x-deno-sandbox-config must be one base64 JSON value of at most ${CONFIG_MAX_CHARS} characters`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    throw new InvalidArgumentError("x-deno-sandbox-config is not base64-encoded JSON");
  }
  const parsed = denoConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`Sandbox options: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  const req: Record<string, unknown> = {};
  // Deno's "session" timeout is the absence of stop_at_ms; a deadline already past gets 1 s.
  if (c.stop_at_ms !== undefined) req.timeout = Math.max(1000, c.stop_at_ms - now);
  if (c.memory_mb !== undefined) req.memoryMb = c.memory_mb;
  if (c.labels !== undefined) req.labels = c.labels;
  if (c.volumes !== undefined) req.volumes = c.volumes.map((v) => ({ id: v.volume, mountPath: v.path, accessMode: "rw" }));
  if (c.allow_net !== undefined) req.allowNet = c.allow_net;
  if (c.secrets !== undefined) req.secrets = c.secrets;
  // Bootable volumes (`root`) are Atoll's `root` option; a daemon without it refuses the unknown option.
  if (c.root !== undefined) req.root = c.root.volume;
  return req;
}
