import { z } from "zod";
import { InvalidArgumentError } from "./errors.js";
import { mountPathProblem } from "./mount-rules.js";
import { type NetRule, SECRET_NAME, parseNetRule } from "./net-rules.js";
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
  allowNetMax: 256,
  secretsMax: 32,
  secretValueMax: 8192,
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
  .record(z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/, "label keys are 1-63 characters of A-Z a-z 0-9 _ . / -"), z.string().max(256))
  .refine((r) => Object.keys(r).length <= LIMITS.labelsMax, `at most ${LIMITS.labelsMax} labels`);

export const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "environment variable names are letters, digits and _, not starting with a digit"),
    z
      .string()
      .max(128 * 1024)
      .refine((v) => !v.includes("\0"), "environment values cannot contain NUL"),
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

/** A TCP port number, 1-65535. */
export const portSchema = z
  .number({ message: "port must be a number 1-65535" })
  .int("port must be a whole number")
  .min(1, "port must be 1-65535")
  .max(65535, "port must be 1-65535");

/**
 * `allowNet`: omitted/null = unrestricted egress, [] = none, else the allowed destinations
 * (grammar in net-rules.ts and docs/network.md). Entries are kept as given (trimmed of nothing).
 */
export const allowNetSchema = z
  .array(
    z.string({ message: 'allowNet entries are strings such as "example.com:443"' }).superRefine((entry, ctx) => {
      const parsed = parseNetRule(entry);
      if (!parsed.ok) ctx.addIssue({ code: "custom", message: `"${entry}": ${parsed.error}` });
    }),
  )
  .max(LIMITS.allowNetMax, `allowNet has at most ${LIMITS.allowNetMax} entries`);

/** Parses entries that allowNetSchema accepted. */
export function netRulesOf(allowNet: readonly string[]): NetRule[] {
  return allowNet.map((entry) => {
    const parsed = parseNetRule(entry);
    if (!parsed.ok) throw new InvalidArgumentError(`allowNet: "${entry}": ${parsed.error}`);
    return parsed.value;
  });
}

/** One secret: substituted for its placeholder only in requests to `hosts`. */
export const secretSchema = z.strictObject({
  hosts: z
    .array(
      z.string().superRefine((host, ctx) => {
        const parsed = parseNetRule(host);
        if (!parsed.ok) ctx.addIssue({ code: "custom", message: `"${host}": ${parsed.error}` });
        else if (parsed.value.kind !== "host" || parsed.value.port !== null) {
          ctx.addIssue({ code: "custom", message: `"${host}": secret hosts are host names (example.com or *.example.com) without a port` });
        }
      }),
      { message: "hosts must be a list of host names" },
    )
    .min(1, "a secret needs at least one host it may be sent to")
    .max(32),
  value: z
    .string({ message: "value must be a string" })
    .min(1, "a secret value cannot be empty")
    .max(LIMITS.secretValueMax, `a secret value is at most ${LIMITS.secretValueMax} characters`)
    .refine((v) => !/[\0\r\n]/.test(v), "a secret value cannot contain NUL, CR or LF (it is sent in HTTP headers)"),
});

export const secretsSchema = z
  .record(z.string().regex(SECRET_NAME, "secret names are environment variable names: letters, digits and _, not starting with a digit"), secretSchema)
  .refine((r) => Object.keys(r).length <= LIMITS.secretsMax, `at most ${LIMITS.secretsMax} secrets`);
export type SecretsRequest = z.input<typeof secretsSchema>;

/** Body of `POST /v1/sandboxes/:id/allow-net`. */
export const setAllowNetSchema = z.strictObject({ allowNet: allowNetSchema.nullable() });

/** Body of `POST /v1/sandboxes/:id/expose`. */
export const exposeHttpSchema = z.strictObject({ port: portSchema });
export type ExposeHttpRequest = z.input<typeof exposeHttpSchema>;

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
  /** Egress policy (docs/network.md): omitted or null = unrestricted, [] = no egress. */
  allowNet: allowNetSchema.nullable().optional(),
  /** Secrets that never enter the sandbox: `$NAME` holds a placeholder the egress proxy replaces. */
  secrets: secretsSchema.optional(),
  /** A port to expose at once: its URL becomes `sandbox.url`. */
  port: portSchema.optional(),
  /**
   * Boot from a bootable volume (read-write, what the sandbox changes stays in it; one sandbox at a
   * time) or a bootable snapshot (its writes go to the sandbox's own scratch), by id or name, instead
   * of the default image (docs/snapshots.md, "Bootable volumes").
   *
   * @example await Sandbox.create({ root: "my-image-v1" })
   */
  root: z.string().min(1, "root must name a bootable volume or snapshot (id or name)").max(128, "root is at most 128 characters").optional(),
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
  /**
   * A snapshot (id or name) the new volume starts as, copy-on-write (docs/snapshots.md); sizeGb at
   * least its size. Or `"builtin:debian-12"`: a bootable volume holding the base image's root filesystem.
   */
  from: z.string().min(1, "from must name a snapshot (id or name) or builtin:debian-12").max(128, "from is at most 128 characters").optional(),
});
export type CreateVolumeRequest = z.input<typeof createVolumeSchema>;

/** `POST /v1/volumes/:id/snapshots` (docs/snapshots.md): same name rules as volumes. */
export const createSnapshotSchema = z.strictObject({ name: createVolumeSchema.shape.name });
export type CreateSnapshotRequest = z.input<typeof createSnapshotSchema>;

/**
 * `POST /v1/images/import?name=&sizeGb=` (docs/images.md "Importing an image"): the bootable
 * snapshot's name (volume name rules) and size; without sizeGb, what the image needs with a quarter to spare.
 */
export const importImageSchema = z.strictObject({ name: createVolumeSchema.shape.name, sizeGb: createVolumeSchema.shape.sizeGb.optional() });
export type ImportImageRequest = z.input<typeof importImageSchema>;

/** `POST /v1/volumes/:id/restore`: the snapshot (id or name) to roll the volume back to. */
export const restoreVolumeSchema = z.strictObject({ snapshot: z.string().min(1, "snapshot must name a snapshot (id or name)").max(128) });
export type RestoreVolumeRequest = z.input<typeof restoreVolumeSchema>;

export const extendTimeoutSchema = z.union([z.strictObject({ extendBy: durationField }), z.strictObject({ timeout: durationField })]);

export const envPatchSchema = z.strictObject({
  set: envSchema.optional(),
  delete: z.array(z.string()).max(LIMITS.envMax).optional(),
});

/**
 * Bounds of a session spawn's flow-control `window` (bytes per output stream).
 *
 * @example ws.send(JSON.stringify({ type: "spawn", id: 1, cmd: "cat", window: SESSION_WINDOW_MIN * 16 }));
 */
export const SESSION_WINDOW_MIN = 4096;
/** @see SESSION_WINDOW_MIN @example const window = Math.min(wanted, SESSION_WINDOW_MAX); */
export const SESSION_WINDOW_MAX = 64 * 1024 * 1024;
/**
 * Stdin a client that spawned with a `window` may have sent and not yet seen acknowledged
 * (`stdin_ack`) per process; more is a protocol violation that closes the session.
 *
 * @example while (unacked + chunk.byteLength > SESSION_STDIN_WINDOW) await nextStdinAck();
 */
export const SESSION_STDIN_WINDOW = 1024 * 1024;

/** Session WebSocket, client → daemon text frames. */
export const sessionClientMessageSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("spawn"),
    id: z
      .number()
      .int()
      .nonnegative()
      .max(2 ** 32 - 1),
    cmd: z.string().min(1),
    args: z.array(z.string()).max(100_000).default([]),
    cwd: z.string().optional(),
    env: envSchema.optional(),
    clearEnv: z.boolean().default(false),
    user: z.enum(["app", "root"]).default("app"),
    stdin: z.boolean().default(false),
    /**
     * Flow control by acknowledgement: at most this many bytes of stdout (and as many of
     * stderr) are sent and not yet acknowledged with `ack`, and the client keeps its stdin within
     * SESSION_STDIN_WINDOW of `stdin_ack`s. Absent: the daemon sends as fast as the socket takes
     * them and stops reading the socket while stdin waits (TCP is the only backpressure).
     */
    window: z.number().int().min(SESSION_WINDOW_MIN).max(SESSION_WINDOW_MAX).optional(),
  }),
  /** The client consumed `stdout`/`stderr` more bytes of a process spawned with a `window`. */
  z.strictObject({
    type: z.literal("ack"),
    id: z.number().int().nonnegative(),
    stdout: z.number().int().nonnegative().max(SESSION_WINDOW_MAX).default(0),
    stderr: z.number().int().nonnegative().max(SESSION_WINDOW_MAX).default(0),
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
