/**
 * Names inside an untrusted image layer, and the one way the unpacker reaches a path under its
 * target: component by component with `lstat`, never following a symlink. A layer can plant a
 * symlink (`etc -> /`) and later name `etc/passwd`; such an entry is refused, whatever layer
 * planted the link. The target directory is private to the unpacker while it runs (its parent
 * has no group or other access), so nothing else changes the tree between check and use.
 */
import { chmod, lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError } from "atoll/contract";

/** Longest entry name accepted (bytes), like PATH_MAX. */
export const MAX_NAME_BYTES = 4096;
/** Longest single path component (bytes), like NAME_MAX. */
export const MAX_COMPONENT_BYTES = 255;

/** The archive is not a usable image (code INVALID_ARGUMENT): says which entry and why. */
export function badImage(message: string, details?: Record<string, unknown>): InvalidArgumentError {
  return new InvalidArgumentError(`image archive: ${message}`, details);
}

/**
 * Splits a layer entry's name into its components ("./usr/bin/" → ["usr", "bin"]; "./" → []).
 * Refuses absolute names, `..`, NUL bytes, names that were not UTF-8 (the tar library turns
 * their bytes into U+FFFD), and names past PATH_MAX or NAME_MAX.
 */
export function entryComponents(name: string, what = "entry"): string[] {
  if (name.includes("\0")) throw badImage(`${what} name contains a NUL byte`);
  if (name.includes("\uFFFD")) throw badImage(`${what} ${JSON.stringify(name)} is not valid UTF-8`);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw badImage(`${what} name is longer than ${MAX_NAME_BYTES} bytes`);
  if (name.startsWith("/")) throw badImage(`${what} ${JSON.stringify(name)} is an absolute path`);
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw badImage(`${what} ${JSON.stringify(name)} contains ".."`);
    if (Buffer.byteLength(part) > MAX_COMPONENT_BYTES)
      throw badImage(`${what} ${JSON.stringify(name)} has a component longer than ${MAX_COMPONENT_BYTES} bytes`);
    parts.push(part);
  }
  return parts;
}

async function lstatOrNull(path: string): Promise<Awaited<ReturnType<typeof lstat>> | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/**
 * Walks `parts` below `root`, every component a real directory (no symlink, no file). Missing
 * directories are made (0755, reported through `onCreate`) when `create`, else the walk answers
 * null. Directories checked once are remembered in `known` until the caller forgets them (after
 * it removes or replaces anything), so a layer's thousand files in one directory cost one walk.
 */
export class SafeTree {
  private readonly known = new Set<string>();

  constructor(readonly root: string) {}

  /** Forgets every checked directory: call after removing or replacing anything in the tree. */
  forget(): void {
    this.known.clear();
  }

  /** Absolute path of `parts` under the root (no checks). */
  pathOf(parts: readonly string[]): string {
    return parts.length === 0 ? this.root : join(this.root, ...parts);
  }

  /** The directory `parts` as an absolute path, checked (and made) as described above. */
  async directory(parts: readonly string[], name: string, create: boolean, onCreate?: (rel: string) => void): Promise<string | null> {
    let rel = "";
    for (const part of parts) {
      rel = rel === "" ? part : `${rel}/${part}`;
      if (this.known.has(rel)) continue;
      const path = join(this.root, rel);
      const st = await lstatOrNull(path);
      if (st === null) {
        if (!create) return null;
        await mkdir(path);
        await chmod(path, 0o755); // whatever the daemon's umask
        onCreate?.(rel);
      } else if (st.isSymbolicLink()) {
        throw badImage(`entry ${JSON.stringify(name)} goes through the symlink ${JSON.stringify(rel)}`);
      } else if (!st.isDirectory()) {
        throw badImage(`entry ${JSON.stringify(name)} goes through ${JSON.stringify(rel)}, which is not a directory`);
      }
      this.known.add(rel);
    }
    return this.pathOf(parts);
  }
}

export { lstatOrNull };
