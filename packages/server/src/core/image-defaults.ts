/**
 * The config of an imported OCI image (issue 14, docs/images.md "Importing an image") as a
 * sandbox booted from it honours it: `Env` under the request's env, `WorkingDir` as the default
 * cwd, `User` (resolved against the image's own /etc/passwd at import) as the user commands run
 * as when they ask for the default user ("app"). Kept as JSON with the snapshot the image became
 * and with volumes made from it.
 */
import { posix } from "node:path";
import { LIMITS } from "atoll/contract";
import type { OciImageConfig } from "../image/oci-config.js";
import type { ImageUser } from "../image/oci-user.js";

/** What a sandbox booted from an imported image starts its commands with. */
export interface ImageDefaults {
  /** Default environment (the sandbox's env and the command's win). */
  env: Record<string, string>;
  /** Default cwd of commands (absolute), or null: Atoll's (/home/app). */
  workingDir: string | null;
  /** Who "app" commands run as: a uid/gid inside the sandbox's user namespace (0..65535), or null: uid 1000. */
  user: { name: string; uid: number; gid: number; home: string } | null;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ID = 65535;

/**
 * The defaults of an unpacked image: its env (names a sandbox env cannot hold are dropped, at
 * most LIMITS.envMax), working directory and resolved user.
 *
 * @example imageDefaults(config, { uid: 1000, gid: 1000, home: "/home/app" }).user?.uid // 1000
 */
export function imageDefaults(config: OciImageConfig, user: ImageUser): ImageDefaults {
  const env = Object.fromEntries(
    Object.entries(config.env)
      .filter(([k, v]) => ENV_NAME.test(k) && !v.includes("\0"))
      .slice(0, LIMITS.envMax),
  );
  const name = config.user === null ? "root" : (config.user.split(":")[0] ?? "root");
  return {
    env,
    workingDir: config.workingDir === null ? null : posix.resolve("/", config.workingDir),
    user: config.user === null ? null : { name, uid: user.uid, gid: user.gid, home: user.home ?? "/" },
  };
}

/** JSON kept in the store (NULL: no image config). */
export function encodeImageDefaults(d: ImageDefaults): string {
  return JSON.stringify(d);
}

const isId = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_ID;

/**
 * The defaults a stored JSON holds, or undefined when there is none. Re-checked on read: the ids
 * must stay inside the sandbox's mapped range whatever the store holds.
 */
export function decodeImageDefaults(json: string | null | undefined): ImageDefaults | undefined {
  if (!json) return undefined;
  let raw: Partial<ImageDefaults>;
  try {
    raw = JSON.parse(json) as Partial<ImageDefaults>;
  } catch {
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.env ?? {})) if (ENV_NAME.test(k) && typeof v === "string") env[k] = v;
  const u = raw.user;
  const user = u && isId(u.uid) && isId(u.gid) && typeof u.home === "string" && typeof u.name === "string" ? u : null;
  const workingDir = typeof raw.workingDir === "string" && raw.workingDir.startsWith("/") ? raw.workingDir : null;
  return { env, workingDir, user };
}
