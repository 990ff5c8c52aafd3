/**
 * Copy-on-write file clones and filesystem freezes: the two host operations snapshots are made
 * of (docs/snapshots.md). A clone (`cp --reflink=always`, the FICLONE ioctl) shares every block
 * of the source and takes no space until one side is written; it needs XFS with reflink or btrfs.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { HostCommandError, type CommandRunner } from "./run-command.js";

/**
 * Clones `source` to `target` (a new file) sharing all its blocks: milliseconds whatever the
 * size. Fails (HostCommandError) on a filesystem without reflink rather than copying.
 *
 * @example await cloneFile(runner, "/pool/volumes/vol_a.img", "/pool/snapshots/snap_b.img.part");
 */
export async function cloneFile(runner: CommandRunner, source: string, target: string): Promise<void> {
  await runner.run("cp", ["--reflink=always", "--no-preserve=all", "--", source, target]);
}

/**
 * Copies `source` to `target` with clones where the filesystems allow and a full (sparse) copy
 * where they do not: for images that live outside the copy-on-write pool.
 */
export async function copyFileSparse(runner: CommandRunner, source: string, target: string): Promise<void> {
  await runner.run("cp", ["--reflink=auto", "--sparse=always", "--no-preserve=all", "--", source, target], { timeoutMs: 60 * 60_000 });
}

/** true when files in `dir` can be cloned (its filesystem supports reflink: XFS reflink=1, btrfs). */
export async function supportsReflink(runner: CommandRunner, dir: string): Promise<boolean> {
  const probe = path.join(dir, `.reflink-probe-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(probe, "probe");
    await cloneFile(runner, probe, `${probe}.clone`);
    return true;
  } catch (error) {
    if (error instanceof HostCommandError) return false;
    throw error;
  } finally {
    await rm(probe, { force: true });
    await rm(`${probe}.clone`, { force: true });
  }
}

/**
 * Runs `fn` with the filesystem mounted at `mountPoint` frozen (`fsfreeze -f`: dirty data and
 * the journal are flushed, then every writer blocks), and thaws it on every path: a frozen
 * volume blocks every writer of every sandbox that has it.
 */
export async function withFrozen<T>(runner: CommandRunner, mountPoint: string, fn: () => Promise<T>): Promise<T> {
  await runner.run("fsfreeze", ["--freeze", mountPoint]);
  try {
    return await fn();
  } finally {
    await thaw(runner, mountPoint);
  }
}

/**
 * Thaws a frozen filesystem; one that is not frozen is fine (fsfreeze answers EINVAL). Used after
 * a crash too: a daemon killed between freeze and thaw leaves the volume frozen.
 */
export async function thaw(runner: CommandRunner, mountPoint: string): Promise<boolean> {
  try {
    await runner.run("fsfreeze", ["--unfreeze", mountPoint]);
    return true;
  } catch (error) {
    if (error instanceof HostCommandError && /Invalid argument/i.test(error.stderr)) return false;
    throw error;
  }
}
