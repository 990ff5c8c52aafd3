import { z } from "zod";
import { InvalidArgumentError } from "./errors.js";
import { mountPathProblem } from "./mount-rules.js";
import { parseDuration, parseSize } from "./units.js";

/** Bounds the daemon enforces; documented in docs/api.md. */
export const LIMITS = {
  memoryDefault: 1280 * 2 ** 20,
  memoryMin: 32 * 2 ** 20,
  memoryMax: 256 * 2 ** 30,
  pidsDefault: 512,
  pidsMax: 32768,
  cpuWeightDefault: 100,
  rootfsDefault: 10 * 2 ** 30,
  rootfsMin: 64 * 2 ** 20,
  rootfsMax: 1024 * 2 ** 30,
  timeoutMaxMs: 7 * 86_400_000,
  volumeSizeGbMin: 0.0625,
  volumeSizeGbMax: 1024,
  labelsMax: 64,
  envMax: 256,
} as const;

function sizeField(what: string, min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((raw, ctx) => {
    const parsed = parseSize(raw);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.error });
      return z.NEVER;
    }
    if (parsed.value < min || parsed.value > max) {
      ctx.addIssue({ code: "custom", message: `${what} must be between ${min} and ${max} bytes, got ${parsed.value}` });
      return z.NEVER;
    }
    return parsed.value;
  });
}

const durationField = z.union([z.number(), z.string()]).transform((raw, ctx) => {
  const parsed = parseDuration(raw);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", message: parsed.error });
    return z.NEVER;
  }
  if (parsed.value > LIMITS.timeoutMaxMs) {
    ctx.addIssue({ code: "custom", message: `a duration can be at most 7 days` });
    return z.NEVER;
  }
  return parsed.value;
});

export const labelsSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.\/-]{1,63}$/, "label keys are 1-63 characters of A-Z a-z 0-9 _ . / -"), z.string().max(256))
  .refine((r) => Object.keys(r).length <= LIMITS.labelsMax, `at most ${LIMITS.labelsMax} labels`);

export const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "environment variable names are letters, digits and _, not starting with a digit"),
    z.string().max(128 * 1024).refine((v) => !v.includes("\0"), "environment values cannot contain NUL"),
  )
  .refine((r) => Object.keys(r).length <= LIMITS.envMax, `at most ${LIMITS.envMax} variables`);

export const accessModeSchema = z.enum(["rw", "ro"], { message: 'accessMode must be "rw" or "ro"' });

export const mountPathSchema = z.string().superRefine((p, ctx) => {
  const problem = mountPathProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** One entry of `volumes` in Sandbox.create, and the body of a hot attach. */
export const volumeMountSchema = z.strictObject({
  id: z.string().min(1, "id (the volume's id or name) is required"),
  mountPath: mountPathSchema,
  accessMode: accessModeSchema.default("rw"),
});
export type VolumeMountRequest = z.input<typeof volumeMountSchema>;

export const createSandboxSchema = z.strictObject({
  memory: sizeField("memory", LIMITS.memoryMin, LIMITS.memoryMax).optional(),
  /** Deno Sandbox compatible spelling of `memory`, in MiB. */
  memoryMb: z.number().int().positive().optional(),
  pids: z.number().int().min(16).max(LIMITS.pidsMax).optional(),
  cpuWeight: z.number().int().min(1).max(10000).optional(),
  rootfsSize: sizeField("rootfsSize", LIMITS.rootfsMin, LIMITS.rootfsMax).optional(),
  timeout: z.union([z.literal("session"), durationField]).optional(),
  labels: labelsSchema.optional(),
  env: envSchema.optional(),
  volumes: z.array(volumeMountSchema).max(32).optional(),
});
export type CreateSandboxRequest = z.input<typeof createSandboxSchema>;

export const createVolumeSchema = z.strictObject({
  name: z
    .string({ message: "name is required: 1-63 characters of a-z 0-9 - _ ." })
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "name must be 1-63 characters of a-z 0-9 - _ . starting with a letter or digit"),
  sizeGb: z
    .number({ message: "sizeGb must be a number of GiB, e.g. 5" })
    .refine(Number.isFinite, "sizeGb must be a finite number")
    .refine(
      (n) => n >= LIMITS.volumeSizeGbMin && n <= LIMITS.volumeSizeGbMax,
      `sizeGb must be between ${LIMITS.volumeSizeGbMin} and ${LIMITS.volumeSizeGbMax} (GiB)`,
    ),
});
export type CreateVolumeRequest = z.input<typeof createVolumeSchema>;

export const extendTimeoutSchema = z.union([
  z.strictObject({ extendBy: durationField }),
  z.strictObject({ timeout: durationField }),
]);

export const envPatchSchema = z.strictObject({
  set: envSchema.optional(),
  delete: z.array(z.string()).max(LIMITS.envMax).optional(),
});

/** Session WebSocket, client → daemon text frames. */
export const sessionClientMessageSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("spawn"),
    id: z.number().int().nonnegative().max(2 ** 32 - 1),
    cmd: z.string().min(1),
    args: z.array(z.string()).max(100_000).default([]),
    cwd: z.string().optional(),
    env: envSchema.optional(),
    clearEnv: z.boolean().default(false),
    user: z.enum(["app", "root"]).default("app"),
    stdin: z.boolean().default(false),
  }),
  z.strictObject({ type: z.literal("stdin_close"), id: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal("signal"), id: z.number().int().nonnegative(), signal: z.union([z.string(), z.number().int()]) }),
]);
export type SessionClientMessage = z.infer<typeof sessionClientMessageSchema>;

/** Readable one-line summary of a zod error: `memory: "12XB" is not a size; …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length ? `${issue.path.join(".")}: ` : "";
      if (issue.code === "unrecognized_keys") {
        return `${path}unknown option${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
      }
      return `${path}${issue.message}`;
    })
    .join("; ");
}

/**
 * Validates `input` against `schema`, or throws InvalidArgumentError with every problem named.
 *
 * @example const req = parseOrThrow(createVolumeSchema, body, "createVolume");
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid ${what}: ${describeIssues(result.error)}`, {
      issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
  }
  return result.data;
}
