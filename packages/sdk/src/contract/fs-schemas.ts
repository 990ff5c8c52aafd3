/** Request schemas of the file API (docs/files.md). */
import { z } from "zod";
import { FS_PATH_MAX } from "./fs-wire.js";

/** A path in a sandbox or volume: absolute, or relative to /home/app (sandbox) or the volume root. */
export const fsPathSchema = z
  .string({ message: "path must be a string" })
  .min(1, "path must not be empty")
  .refine((p) => new TextEncoder().encode(p).byteLength <= FS_PATH_MAX, `path must be at most ${FS_PATH_MAX} bytes`)
  .refine((p) => !p.includes("\0"), "path must not contain a NUL character");

const modeSchema = z.number({ message: "mode must be a number such as 0o644" }).int().min(0).max(0o7777, "mode must be at most 0o7777");
const idSchema = z.number().int().min(0).max(65535).nullable();
const namePart = z
  .string()
  .max(200)
  .refine((s) => !s.includes("/") && !s.includes("\0"), "prefix and suffix cannot contain '/' or NUL");

/** Body of `POST …/fs/op`: one metadata operation. */
export const fsOpSchema = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("stat"), path: fsPathSchema }),
  z.strictObject({ op: z.literal("lstat"), path: fsPathSchema }),
  z.strictObject({ op: z.literal("realPath"), path: fsPathSchema }),
  z.strictObject({ op: z.literal("readLink"), path: fsPathSchema }),
  z.strictObject({ op: z.literal("mkdir"), path: fsPathSchema, recursive: z.boolean().default(false), mode: modeSchema.optional() }),
  z.strictObject({ op: z.literal("remove"), path: fsPathSchema, recursive: z.boolean().default(false) }),
  z.strictObject({ op: z.literal("rename"), from: fsPathSchema, to: fsPathSchema }),
  z.strictObject({ op: z.literal("copyFile"), from: fsPathSchema, to: fsPathSchema }),
  z.strictObject({ op: z.literal("symlink"), target: fsPathSchema, path: fsPathSchema }),
  z.strictObject({ op: z.literal("chmod"), path: fsPathSchema, mode: modeSchema }),
  z.strictObject({ op: z.literal("chown"), path: fsPathSchema, uid: idSchema, gid: idSchema }),
  z.strictObject({ op: z.literal("truncate"), path: fsPathSchema, length: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0) }),
  z.strictObject({ op: z.literal("makeTempDir"), dir: fsPathSchema.optional(), prefix: namePart.default(""), suffix: namePart.default("") }),
  z.strictObject({ op: z.literal("makeTempFile"), dir: fsPathSchema.optional(), prefix: namePart.default(""), suffix: namePart.default("") }),
]);
export type FsOpRequest = z.input<typeof fsOpSchema>;
export type FsOp = z.output<typeof fsOpSchema>;

const flag = z.enum(["true", "false"]).transform((v) => v === "true");

/** Query of every file route of a sandbox: `user=app|root` (default app). */
export const fsUserSchema = z.enum(["app", "root"], { message: 'user must be "app" or "root"' }).default("app");

/** Query of `GET …/fs/file`, `…/fs/dir`, `…/fs/tar`, `PUT …/fs/tar`. */
export const fsPathQuerySchema = z.object({ path: fsPathSchema, user: fsUserSchema });

/** Query of `PUT …/fs/file`: writeFile's options. */
export const fsWriteQuerySchema = z.object({
  path: fsPathSchema,
  user: fsUserSchema,
  mode: z
    .string()
    .regex(/^[0-7]{1,4}$/, "mode is octal, e.g. 644")
    .transform((m) => parseInt(m, 8))
    .optional(),
  append: flag.default(false),
  create: flag.default(true),
  createNew: flag.default(false),
});

/** Query of `GET …/fs/walk`. maxDepth -1 = unlimited. */
export const fsWalkQuerySchema = z.object({
  path: fsPathSchema,
  user: fsUserSchema,
  maxDepth: z
    .string()
    .regex(/^-?\d{1,6}$/, "maxDepth must be a whole number")
    .transform(Number)
    .default(-1),
  followSymlinks: flag.default(false),
});
