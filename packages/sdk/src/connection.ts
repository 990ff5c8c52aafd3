/**
 * Where the daemon is and which token to present. Resolution order:
 * explicit options → `ATOLL_URL` / `ATOLL_TOKEN` → (loopback daemons only) the token file
 * `<ATOLL_STATE_DIR or /var/lib/atoll>/token` that `atoll serve` writes.
 */
import { AuthenticationError, ConnectionError, InvalidArgumentError } from "./contract/index.js";

/**
 * Connection settings accepted by `new Client()`, `Sandbox.create()` and `Sandbox.connect()`.
 *
 * @example const client = new Client({ url: "http://127.0.0.1:7420", token: process.env.ATOLL_TOKEN });
 */
export interface ConnectionOptions {
  /** Daemon base URL; default `ATOLL_URL` or `http://127.0.0.1:7420`. */
  url?: string;
  /** API token; default `ATOLL_TOKEN`, else the daemon's token file when it runs on this machine. */
  token?: string;
}

/** A resolved connection: base URL without trailing slash, and the token. */
export interface ResolvedConnection {
  url: string;
  token: string;
}

export const DEFAULT_URL = "http://127.0.0.1:7420";
export const DEFAULT_STATE_DIR = "/var/lib/atoll";

/** Reads an environment variable on Node, Bun and Deno; undefined when unset or not permitted. */
export function readEnv(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  if (proc?.env) return proc.env[name] || undefined;
  const deno = (globalThis as { Deno?: { env?: { get(n: string): string | undefined } } }).Deno;
  try {
    return deno?.env?.get(name) || undefined;
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** true for localhost, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** Validates and normalises a daemon URL (http or https, no trailing slash). */
export function normaliseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidArgumentError(`"${raw}" is not a valid daemon URL; use e.g. ${DEFAULT_URL}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`The daemon URL must start with http:// or https://, got "${raw}"`);
  }
  return url.href.replace(/\/+$/, "");
}

async function readTokenFile(path: string): Promise<{ token?: string; problem?: string }> {
  try {
    const fs = await import("node:fs/promises");
    const token = (await fs.readFile(path, "utf8")).trim();
    return token ? { token } : { problem: `${path} is empty` };
  } catch (e) {
    const code = (e as { code?: string }).code;
    return { problem: `could not read ${path}${code ? ` (${code})` : ""}` };
  }
}

/**
 * Resolves URL and token. Throws AuthenticationError when no token can be found.
 *
 * @example
 *   const { url, token } = await resolveConnection({ url: "http://127.0.0.1:7420" });
 */
export async function resolveConnection(options: ConnectionOptions = {}): Promise<ResolvedConnection> {
  const url = normaliseUrl(options.url ?? readEnv("ATOLL_URL") ?? DEFAULT_URL);
  const explicit = options.token ?? readEnv("ATOLL_TOKEN");
  if (explicit) return { url, token: explicit };
  let problem = `the daemon at ${url} is not on this machine, so its token file cannot be read`;
  if (isLoopbackHost(new URL(url).hostname)) {
    const stateDir = readEnv("ATOLL_STATE_DIR") ?? DEFAULT_STATE_DIR;
    const found = await readTokenFile(`${stateDir.replace(/\/+$/, "")}/token`);
    if (found.token) return { url, token: found.token };
    problem = found.problem ?? problem;
  }
  throw new AuthenticationError("UNAUTHORIZED", `No Atoll API token: set ATOLL_TOKEN or pass { token }; ${problem}. Is \`atoll serve\` running?`);
}

/** The error for a daemon that cannot be reached; `cause` is the network error. */
export function unreachableError(url: string, cause: unknown): ConnectionError {
  const c = cause as { cause?: { code?: string; message?: string }; code?: string; message?: string } | undefined;
  const detail = c?.cause?.code ?? c?.code ?? c?.cause?.message ?? c?.message;
  return new ConnectionError(
    `Cannot reach the Atoll daemon at ${url}: is \`atoll serve\` running?${detail ? ` (${detail})` : ""}`,
    detail ? { cause: detail } : undefined,
    { cause },
  );
}
