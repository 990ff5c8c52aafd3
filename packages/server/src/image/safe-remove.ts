import { readFileSync, realpathSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { runCommand } from "../host/run-command.js";

/** Decodes the octal escapes (`\040` for a space, ...) that /proc/self/mountinfo uses. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string, mountinfo: string = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  let base = resolve(dir);
  try {
    base = realpathSync(base); // mountinfo shows real paths
  } catch {
    // does not exist (any more): compare the plain path
  }
  const found: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    const point = unescapeMountPath(field);
    if (point === base || point.startsWith(`${base}/`)) found.push(point);
  }
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

/**
 * Deletes a build directory that a crashed or killed bootstrap may have left with /proc, /sys
 * or /dev still mounted inside: unmounts everything below it first (lazily, deepest first) so
 * the recursive delete can never reach into a host filesystem.
 */
export async function removeTreeSafely(dir: string): Promise<void> {
  for (const point of mountsUnder(dir)) {
    await runCommand("umount", ["--lazy", point]);
  }
  if (mountsUnder(dir).length > 0) {
    throw new Error(`refusing to delete ${dir}: something is still mounted below it`);
  }
  rmSync(dir, { recursive: true, force: true });
}
