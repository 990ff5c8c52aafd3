import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultImagesDir, defaultUidBase } from "./image/image-builder.js";

/** Everything `atoll serve` needs to know, resolved from flags and the environment. */
export interface DaemonConfig {
  stateDir: string;
  /** Private mount directory for every mount the daemon makes. */
  runDir: string;
  host: string;
  port: number;
  imagesDir: string;
  uidBase: number;
  /** Where `make` put atoll-init, atoll-launch and atoll-mount. */
  nativeDir: string;
  logLevel: string;
}

export const DEFAULT_STATE_DIR = "/var/lib/atoll";
export const DEFAULT_LISTEN = "127.0.0.1:7420";

/** Parses "HOST:PORT" ("[::1]:7420" for IPv6); throws a readable Error. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`--listen must look like 127.0.0.1:7420, got "${listen}"`);
  return { host: (m[1] ?? m[2])!, port };
}

export function resolveConfig(opts: { stateDir?: string; listen?: string; imagesDir?: string; logLevel?: string }): DaemonConfig {
  const stateDir = resolve(opts.stateDir ?? process.env.ATOLL_STATE_DIR ?? DEFAULT_STATE_DIR);
  const { host, port } = parseListen(opts.listen ?? process.env.ATOLL_LISTEN ?? DEFAULT_LISTEN);
  return {
    stateDir,
    runDir: join(stateDir, "run"),
    host,
    port,
    imagesDir: opts.imagesDir ?? defaultImagesDir(),
    uidBase: defaultUidBase(),
    nativeDir: fileURLToPath(new URL("../native/build", import.meta.url)),
    logLevel: opts.logLevel ?? process.env.ATOLL_LOG_LEVEL ?? "info",
  };
}
