import { rmSync } from "node:fs";
import { mountsUnder, readMountInfo, umountTree } from "../host/mounts.js";
import { type CommandRunner, execFileRunner } from "../host/run-command.js";
import { DaemonError } from "../daemon-error.js";

/**
 * Deletes a build directory that a crashed or killed bootstrap may have left with /proc, /sys
 * or /dev still mounted inside: unmounts everything below it first (lazily, deepest first) so
 * the recursive delete can never reach into a host filesystem. `runner` runs umount.
 */
export async function removeTreeSafely(dir: string, runner: CommandRunner = execFileRunner): Promise<void> {
  await umountTree(runner, dir, { lazy: true });
  if (mountsUnder(await readMountInfo(), dir).length > 0) {
    throw new DaemonError("HOST_CLEANUP_FAILED", `refusing to delete ${dir}: something is still mounted below it`);
  }
  rmSync(dir, { recursive: true, force: true });
}
