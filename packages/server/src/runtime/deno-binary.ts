/**
 * The Deno runtime sandboxes get at /usr/local/bin/deno (`sandbox.deno.*`, docs/deno-compatibility.md):
 * the host's binary of the `deno` npm package, bound read-only into every sandbox, so no image
 * holds its ~95 MB and an upgrade of the package is an upgrade for every new sandbox.
 *
 * ATOLL_DENO=PATH uses another binary, ATOLL_DENO=off gives sandboxes none. Without the setting
 * the daemon looks for the `deno` package next to its own (it is a dependency of this repository);
 * a daemon that finds none runs without it and `sandbox.deno.*` reports what is missing.
 */
import { accessSync, constants, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { DaemonError } from "../daemon-error.js";

/** Where sandboxes find it (on PATH in the image). */
export const DENO_IN_SANDBOX = "/usr/local/bin/deno";

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The host path of the Deno binary sandboxes get, or undefined for none. */
export function findDenoBinary(setting: string | undefined = process.env.ATOLL_DENO): string | undefined {
  if (setting === "off") return undefined;
  if (setting) {
    const p = resolve(setting);
    if (!isExecutableFile(p)) throw new DaemonError("CONFIG_INVALID", `ATOLL_DENO=${setting}: not an executable file; give the path of a deno binary, or off`);
    return p;
  }
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve("deno/package.json"));
    // The package's install step puts the platform's binary next to its package.json.
    const candidate = join(pkg, "deno");
    return isExecutableFile(candidate) ? candidate : undefined;
  } catch {
    return undefined;
  }
}
