import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/**
 * Where `name` is found in the directories of `searchPath` (colon-separated, as execvp looks),
 * or undefined.
 *
 * @example findTool("bwrap", HOST_PATH) // "/usr/bin/bwrap"
 */
export function findTool(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
