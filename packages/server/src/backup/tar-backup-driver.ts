/**
 * The BackupDriver of the loop/ext4 storage backend (core/backup-service.ts): exports read a
 * snapshot image mounted read-only for the while at `<runDir>/backups/<id>`; imports extract into
 * the new volume's own host mount. tar runs confined (tar-jail.ts).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, readdir, rmdir } from "node:fs/promises";
import path from "node:path";
import { ArchiveInvalidError, InvalidArgumentError } from "atoll/contract";
import type { BackupDriver } from "../core/backup-service.js";
import { DaemonError } from "../daemon-error.js";
import { isMountPoint, statfsUsage, umount } from "../host/mounts.js";
import type { CommandRunner } from "../host/run-command.js";
import { TarJail, type TarJailOptions } from "./tar-jail.js";

/** A snapshot image is mounted for an export like this: nothing replayed, nothing runnable. */
const EXPORT_MOUNT_OPTIONS = "ro,noload,loop,nosuid,nodev,noexec";

/** A filesystem tar filled: (almost) no block or no inode left. tar does not always say ENOSPC ("Wrote only 3072 of 10240 bytes"). */
async function isFull(dir: string): Promise<boolean> {
  const fs = await statfsUsage(dir).catch(() => undefined);
  return fs !== undefined && (fs.availableBytes < 1024 * 1024 || fs.freeInodes === 0);
}

export class TarBackupDriver implements BackupDriver {
  private readonly jail: TarJail;
  /** `<runDir>/backups`: where snapshots are mounted while exported. */
  private readonly dir: string;

  constructor(private readonly opts: TarJailOptions & { runDir: string; runner: CommandRunner; snapshotImage: (id: string) => Promise<string> }) {
    this.jail = new TarJail(opts);
    this.dir = path.join(opts.runDir, "backups");
  }

  async *exportSnapshot(snapshotId: string): AsyncGenerator<Buffer> {
    const image = await this.opts.snapshotImage(snapshotId);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const at = path.join(this.dir, randomBytes(8).toString("hex"));
    await mkdir(at, { mode: 0o700 });
    try {
      await this.opts.runner.run("mount", ["-t", "ext4", "-o", EXPORT_MOUNT_OPTIONS, "--", image, at]);
      try {
        const run = this.jail.create(at);
        try {
          for await (const chunk of run.stdout!) yield chunk as Buffer;
          const exit = await run.exited;
          if (exit.code !== 0)
            throw new DaemonError("HOST_COMMAND_FAILED", `tar of snapshot ${snapshotId} failed (${exit.code ?? exit.signal}): ${exit.stderr}`);
        } finally {
          run.kill(); // the client went away part way: stop reading the volume
          await run.exited;
        }
      } finally {
        await umount(this.opts.runner, at);
      }
    } finally {
      await rmdir(at).catch(() => undefined);
    }
  }

  async extract(target: string, payload: AsyncIterable<Buffer>): Promise<void> {
    const run = this.jail.extract(target);
    let gaveUp = false;
    void run.exited.then(() => (gaveUp = true));
    try {
      for await (const chunk of payload) {
        // Once tar gave up, the rest is still read: whether the archive itself is whole decides the error.
        if (gaveUp) continue;
        if (!run.stdin!.write(chunk)) await Promise.race([once(run.stdin as NodeJS.EventEmitter, "drain"), run.exited]);
      }
      run.stdin!.end();
    } catch (err) {
      run.kill();
      await run.exited;
      throw err;
    }
    const exit = await run.exited;
    if (exit.code === 0) return;
    if (/No space left on device|Disk quota exceeded|Wrote only/.test(exit.stderr) || (await isFull(target))) {
      throw new InvalidArgumentError("The archive's files do not fit in the new volume: import it with a larger size (sizeGb, --size).", {
        reason: "no-space",
        tar: exit.stderr,
      });
    }
    throw new ArchiveInvalidError(`The archive's files could not be restored (tar: ${exit.stderr.split("\n")[0] ?? exit.code}); nothing was imported.`, {
      reason: "contents",
      tar: exit.stderr,
    });
  }

  /** At daemon start: unmounts and removes what exports of a previous run left (a crash part way). */
  async reconcile(): Promise<void> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of entries) {
      const at = path.join(this.dir, name);
      if (await isMountPoint(at)) await umount(this.opts.runner, at, { lazy: true });
      await rmdir(at).catch(() => undefined);
    }
  }
}
