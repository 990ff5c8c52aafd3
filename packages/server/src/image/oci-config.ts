/**
 * The image config of an OCI / Docker image (the JSON a manifest's `config` points to): what a
 * sandbox booted from the image honours (Env, WorkingDir, User, Entrypoint, Cmd), validated and
 * typed. Bad config is refused with what was wrong, never half-used.
 */
import { z } from "zod";
import { badImage } from "./oci-paths.js";

/** Largest config document read (real ones are a few KiB, with long histories ~100 KiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const noNul = (what: string) =>
  z
    .string()
    .max(65536)
    .refine((s) => !s.includes("\0"), `${what} contains a NUL byte`);
const args = (what: string) => z.array(noNul(what)).max(4096).nullish();

const configSchema = z.object({
  architecture: z.string().min(1).max(64),
  os: z.string().min(1).max(64),
  variant: z.string().max(64).optional(),
  config: z
    .object({
      Env: z.array(noNul("Env")).max(4096).nullish(),
      WorkingDir: noNul("WorkingDir").nullish(),
      User: noNul("User").nullish(),
      Entrypoint: args("Entrypoint"),
      Cmd: args("Cmd"),
    })
    .nullish(),
  rootfs: z.object({
    type: z.literal("layers"),
    diff_ids: z.array(z.string().regex(DIGEST, "a diff_id must be sha256:<64 hex digits>")).max(1024),
  }),
});

/** What the unpacker returns of an image config. */
export interface OciImageConfig {
  os: string;
  architecture: string;
  variant: string | null;
  /** `Env` as name → value, in the image's order (a later duplicate wins). */
  env: Record<string, string>;
  /** Absolute working directory, or null when the image sets none. */
  workingDir: string | null;
  /** `User` as written (`name`, `uid`, `name:group`, `uid:gid`), or null for root. */
  user: string | null;
  entrypoint: string[];
  cmd: string[];
  /** sha256 of each layer's uncompressed tar, bottom layer first. */
  diffIds: string[];
}

const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;

/**
 * Parses and checks an image config document.
 *
 * @example
 *   const config = parseImageConfig(Buffer.from('{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}'));
 *   config.env.PATH; // "/bin"
 */
export function parseImageConfig(raw: Buffer): OciImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw badImage(`the image config is not JSON: ${(error as Error).message}`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badImage(`the image config is invalid at ${issue?.path.join(".") || "(top)"}: ${issue?.message ?? "?"}`);
  }
  const c = parsed.data.config ?? {};
  const env: Record<string, string> = {};
  for (const item of c.Env ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw badImage(`the image config's Env entry ${JSON.stringify(item.slice(0, 80))} is not NAME=VALUE`);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  const workingDir = c.WorkingDir ? c.WorkingDir : null;
  if (workingDir !== null && !workingDir.startsWith("/")) throw badImage(`the image config's WorkingDir ${JSON.stringify(workingDir)} is not an absolute path`);
  const user = c.User ? c.User : null;
  if (user !== null && !USER.test(user)) throw badImage(`the image config's User ${JSON.stringify(user.slice(0, 80))} is not name, uid, name:group or uid:gid`);
  return {
    os: parsed.data.os,
    architecture: parsed.data.architecture,
    variant: parsed.data.variant ?? null,
    env,
    workingDir,
    user,
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    diffIds: parsed.data.rootfs.diff_ids,
  };
}
