/**
 * Parses the locations of `atoll cp`: `volume:NAME:path`, `SANDBOX:path` (a sandbox id before
 * the first ':' with no '/' before it, as scp does), `-` (stdin/stdout), or a local path.
 * A local path with a ':' before its first '/' must be written `./a:b`.
 */
import { InvalidArgumentError } from "atoll";

export type CpLocation =
  | { kind: "local"; path: string }
  | { kind: "stdio" }
  | { kind: "sandbox"; id: string; path: string }
  | { kind: "volume"; name: string; path: string };

/** @example parseLocation("volume:cache:/models") // { kind: "volume", name: "cache", path: "/models" } */
export function parseLocation(arg: string): CpLocation {
  if (arg === "-") return { kind: "stdio" };
  if (arg.startsWith("volume:")) {
    const rest = arg.slice("volume:".length);
    const colon = rest.indexOf(":");
    if (colon <= 0) throw new InvalidArgumentError(`"${arg}" must look like volume:NAME:path`);
    return { kind: "volume", name: rest.slice(0, colon), path: rest.slice(colon + 1) || "/" };
  }
  const colon = arg.indexOf(":");
  const slash = arg.indexOf("/");
  if (colon > 0 && (slash < 0 || colon < slash) && /^[A-Za-z0-9_-]+$/.test(arg.slice(0, colon))) {
    return { kind: "sandbox", id: arg.slice(0, colon), path: arg.slice(colon + 1) || "/home/app" };
  }
  if (arg === "") throw new InvalidArgumentError("an empty path is not a location");
  return { kind: "local", path: arg };
}

/** `dir/` + the last name of `src`, for a destination that is an existing directory. */
export function intoDirectory(dir: string, src: string): string {
  const name = src.replace(/\/+$/, "").split("/").pop() || "";
  if (!name || name === "." || name === "..") throw new InvalidArgumentError(`cannot name a copy of "${src}" inside ${dir}; give the destination's full path`);
  return `${dir.replace(/\/+$/, "")}/${name}`;
}
