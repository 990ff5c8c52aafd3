/**
 * A small warm pool of ready scratch filesystems (sparse ext4 without a journal, attached to a
 * loop device and mounted, with `upper/` and `work/` prepared), so creating a sandbox costs one
 * `mount --move` instead of mkfs + losetup + mount. Images live in `<stateDir>/scratch/`: pool
 * entries as `pool-<random>.img` mounted at `<runDir>/pool/<random>`; a taken one is renamed to
 * `<sandboxId>.img` and its mount moved to the sandbox's scratch directory. The pool refills
 * in the background for the size most recently asked for. Pool mounts and loop devices are
 * host resources of the pool: close() releases them, and the runtime's orphan cleanup removes
 * those of a crashed run (pool-*.img files and everything under `<runDir>/pool`).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { createExt4Image } from "../host/ext4-image.js";
import { scratchInodeCountFor } from "../host/inode-sizing.js";
import { moveMount } from "../host/mounts.js";
import type { CommandRunner } from "../host/run-command.js";
import { WarmPool } from "../host/warm-pool.js";
import { mountScratch, releaseScratch } from "./scratch-fs.js";

export interface ScratchPoolOptions {
  /** Directory of the image files (`<stateDir>/scratch`). */
  dir: string;
  /** Directory under which pool entries are mounted (`<runDir>/pool`, inside the private run mount). */
  mountDir: string;
  /** Host uid/gid of sandbox root: owner of `upper/` (what `/` looks like inside). */
  uidBase: number;
  /** Runs mkfs, losetup and mount (the daemon's host spawner). */
  runner: CommandRunner;
  /** How many ready filesystems to keep (default 2; 0 disables the pool). */
  target?: number;
  logger?: Logger | undefined;
}

interface Entry {
  file: string;
  size: number;
  mountPoint: string;
}

/** A scratch filesystem handed to a sandbox. */
export interface Scratch {
  image: string;
  upper: string;
  work: string;
}

/**
 * Makes a scratch image: sparse file + `mkfs.ext4 -O ^has_journal,^resize_inode` (lazy init,
 * -m 0), with inodes for many small files (inode-sizing.ts: a 10 GiB root holds 299,520 files).
 * A scratch is never resized, so it keeps no blocks for growing (resize_inode: 36 MiB of a
 * 10 GiB root). Its metadata (92 MiB of a 10 GiB root, mostly inode tables) costs the host
 * nothing until files use it; the disk budget counts it all the same (host/disk-budget.ts).
 */
export async function createScratchImage(runner: CommandRunner, file: string, sizeBytes: number): Promise<void> {
  await createExt4Image(runner, file, sizeBytes, { features: ["^has_journal", "^resize_inode"], inodeCount: scratchInodeCountFor(sizeBytes) });
}

export class ScratchPool {
  private readonly pool: WarmPool<Entry>;
  /** The size the pool fills for: the one most recently asked for. */
  private size: number | undefined;

  constructor(private readonly options: ScratchPoolOptions) {
    this.pool = new WarmPool<Entry>({
      name: "scratch",
      target: options.target ?? 2,
      logger: options.logger,
      make: (claim) => this.make(claim),
      release: (e) => this.discard(e),
      // Entries of another size are not wanted any more.
      wanted: (e) => e.size === this.size,
    });
  }

  /** Entries ready to be taken now (metrics). */
  get readyCount(): number {
    return this.pool.size;
  }

  /** Path of the image file of sandbox `id`. */
  imagePath(id: string): string {
    return path.join(this.options.dir, `${id}.img`);
  }

  /** true for files the pool owns (ready or being made): orphan cleanup must leave them alone. */
  owns(file: string): boolean {
    return this.pool.owns(file);
  }

  /**
   * Gives sandbox `id` a scratch filesystem of exactly `sizeBytes`, mounted at `mountPoint`
   * with its image at `<dir>/<id>.img`: a pool entry moved there, or a fresh one. The caller
   * owns the result and releases it with releaseScratch(image, mountPoint).
   */
  async take(id: string, sizeBytes: number, mountPoint: string): Promise<Scratch> {
    const image = this.imagePath(id);
    await mkdir(this.options.dir, { recursive: true });
    await mkdir(mountPoint, { recursive: true });
    const scratch = { image, upper: `${mountPoint}/upper`, work: `${mountPoint}/work` };
    // The entry's file stays the pool's until it has its sandbox's name.
    const entry = this.pool.take((e) => e.size === sizeBytes, { keepClaims: true, deferRefill: true });
    let taken = false;
    if (entry) {
      let renamed = false;
      try {
        await rename(entry.file, image);
        renamed = true;
        this.pool.disown(entry);
        await moveMount(this.options.runner, entry.mountPoint, mountPoint);
        taken = true;
        await rmdir(entry.mountPoint).catch(() => undefined);
      } catch (err) {
        this.options.logger?.warn({ err, file: entry.file }, "scratch pool entry unusable; making a fresh one");
        this.pool.disown(entry);
        await releaseScratch(this.options.runner, renamed ? image : entry.file, entry.mountPoint);
        await rmdir(entry.mountPoint).catch(() => undefined);
      }
    }
    if (!taken) {
      await createScratchImage(this.options.runner, image, sizeBytes);
      try {
        await mountScratch(this.options.runner, image, mountPoint, this.options.uidBase);
      } catch (err) {
        await rm(image, { force: true });
        throw err;
      }
    }
    this.size = sizeBytes;
    // Refill once this sandbox has started: mkfs and mount would compete with its launch.
    this.pool.refillSoon();
    return scratch;
  }

  /** Fills the pool for `sizeBytes` in the background (e.g. the default size, at start). */
  warm(sizeBytes: number): void {
    this.size ??= sizeBytes;
    this.pool.warm();
  }

  /** Stops refilling and releases every pool entry (mount, loop device, image). */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** A new pool entry of the wanted size: image, loop device, mount, `upper/` and `work/`. */
  private async make(claim: (file: string) => void): Promise<Entry> {
    const size = this.size!;
    await mkdir(this.options.dir, { recursive: true });
    const name = randomBytes(6).toString("hex");
    const entry = { file: path.join(this.options.dir, `pool-${name}.img`), size, mountPoint: path.join(this.options.mountDir, name) };
    claim(entry.file);
    try {
      await createScratchImage(this.options.runner, entry.file, size);
      await mkdir(entry.mountPoint, { recursive: true });
      await mountScratch(this.options.runner, entry.file, entry.mountPoint, this.options.uidBase);
    } catch (err) {
      await this.discard(entry);
      throw err;
    }
    return entry;
  }

  private async discard(e: Entry): Promise<void> {
    await releaseScratch(this.options.runner, e.file, e.mountPoint);
    await rmdir(e.mountPoint).catch(() => undefined);
  }
}
