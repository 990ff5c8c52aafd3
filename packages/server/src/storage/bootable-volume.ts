/**
 * Bootable volumes (issue 14, docs/snapshots.md "Bootable volumes"): a new volume filled with a
 * root filesystem tree (the daemon's base image, `builtin:debian-12`), so a sandbox can boot
 * from it (`root:`). The tree is already owned by the sandbox id range (image-derive.ts); the
 * copy keeps owners, modes, links, ACLs and xattrs.
 */
import { chmod, chown } from "node:fs/promises";
import { InvalidArgumentError } from "atoll/contract";
import type { CommandRunner } from "../host/run-command.js";

const GIB = 2 ** 30;
/** Room a bootable volume keeps beyond its tree: the filesystem's own metadata, and some to install into. */
const HEADROOM = 1.25;

/** Bytes the tree takes on disk (`du`), read once per create. */
export async function treeBytes(runner: CommandRunner, tree: string): Promise<number> {
  const { stdout } = await runner.run("du", ["-s", "-x", "-B1", tree], { timeoutMs: 120_000 });
  const bytes = Number.parseInt(stdout.split(/\s/)[0] ?? "", 10);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`du printed no size for ${tree}: ${JSON.stringify(stdout)}`);
  return bytes;
}

/** Smallest size (GiB, in quarters) of a volume that holds a tree of `bytes` with headroom. */
export function minSizeGbFor(bytes: number): number {
  return Math.ceil(((bytes * HEADROOM) / GIB) * 4) / 4;
}

/** INVALID_ARGUMENT unless a volume of `capacityBytes` holds a tree of `bytes` with headroom. */
export function assertTreeFits(capacityBytes: number, bytes: number, what: string): void {
  const needGb = minSizeGbFor(bytes);
  if (capacityBytes < needGb * GIB) {
    throw new InvalidArgumentError(`A volume made from ${what} needs sizeGb ${needGb} or more (its root filesystem takes ${Math.ceil(bytes / 2 ** 20)} MiB).`, {
      from: what,
      minSizeGb: needGb,
    });
  }
}

/**
 * Copies `tree` into the mounted, empty volume at `mountPoint` (`cp -a`: owners, modes, hard
 * links, xattrs), and makes the volume's root directory the sandbox root's (host uidBase), 0755.
 */
export async function fillFromTree(runner: CommandRunner, mountPoint: string, tree: string, uidBase: number): Promise<void> {
  await runner.run("cp", ["-a", "--reflink=auto", "--no-target-directory", `${tree}/.`, mountPoint], { timeoutMs: 600_000 });
  await chown(mountPoint, uidBase, uidBase);
  await chmod(mountPoint, 0o755);
  await runner.run("sync", ["-f", mountPoint]);
}
