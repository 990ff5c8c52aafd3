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
import { inodeCountFor } from "../host/inode-sizing.js";
import { moveMount } from "../host/mounts.js";
import { mountScratch, releaseScratch } from "./scratch-fs.js";

export interface ScratchPoolOptions {
  /** Directory of the image files (`<stateDir>/scratch`). */
  dir: string;
  /** Directory under which pool entries are mounted (`<runDir>/pool`, inside the private run mount). */
  mountDir: string;
  /** Host uid/gid of sandbox root: owner of `upper/` (what `/` looks like inside). */
  uidBase: number;
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
 * Makes a scratch image: sparse file + `mkfs.ext4 -O ^has_journal` (lazy init, -m 0), with
 * inodes for many small files (inode-sizing.ts: a 10 GiB root holds 852,480 files). The inode
 * tables of a sparse image cost the host nothing until files use them.
 */
export async function createScratchImage(file: string, sizeBytes: number): Promise<void> {
  await createExt4Image(file, sizeBytes, { features: ["^has_journal"], inodeCount: inodeCountFor(sizeBytes) });
}

export class ScratchPool {
  private readonly entries: Entry[] = [];
  /** Files the pool created and still owns (ready or being made). */
  private readonly owned = new Set<string>();
  private size: number | undefined;
  private refilling: Promise<void> | undefined;
  private closed = false;
  private readonly target: number;

  constructor(private readonly options: ScratchPoolOptions) {
    this.target = options.target ?? 2;
  }

  /** Path of the image file of sandbox `id`. */
  imagePath(id: string): string {
    return path.join(this.options.dir, `${id}.img`);
  }

  /** true for files the pool owns: orphan cleanup must leave them alone. */
  owns(file: string): boolean {
    return this.owned.has(file);
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
    const i = this.entries.findIndex((e) => e.size === sizeBytes);
    let taken = false;
    if (i >= 0) {
      const [entry] = this.entries.splice(i, 1);
      try {
        await rename(entry!.file, image);
        this.owned.delete(entry!.file);
        await moveMount(entry!.mountPoint, mountPoint);
        taken = true;
        await rmdir(entry!.mountPoint).catch(() => undefined);
      } catch (err) {
        this.options.logger?.warn({ err, file: entry!.file }, "scratch pool entry unusable; making a fresh one");
        if (this.owned.delete(entry!.file)) await releaseScratch(entry!.file, entry!.mountPoint);
        else await releaseScratch(image, entry!.mountPoint);
        await rmdir(entry!.mountPoint).catch(() => undefined);
      }
    }
    if (!taken) {
      await createScratchImage(image, sizeBytes);
      try {
        await mountScratch(image, mountPoint, this.options.uidBase);
      } catch (err) {
        await rm(image, { force: true });
        throw err;
      }
    }
    this.size = sizeBytes;
    // Refill once this sandbox has started: mkfs and mount would compete with its launch.
    setTimeout(() => this.refill(), 250).unref();
    return scratch;
  }

  /** Fills the pool for `sizeBytes` in the background (e.g. the default size, at start). */
  warm(sizeBytes: number): void {
    this.size ??= sizeBytes;
    this.refill();
  }

  /** Stops refilling and releases every pool entry (mount, loop device, image). */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    for (const e of this.entries.splice(0)) await this.discard(e);
  }

  private async discard(e: Entry): Promise<void> {
    await releaseScratch(e.file, e.mountPoint);
    await rmdir(e.mountPoint).catch(() => undefined);
    this.owned.delete(e.file);
  }

  private refill(): void {
    if (this.refilling || this.closed || this.target <= 0) return;
    this.refilling = this.fill()
      .catch((err: unknown) => this.options.logger?.warn({ err }, "scratch pool refill failed"))
      .finally(() => {
        this.refilling = undefined;
      });
  }

  private async fill(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    for (;;) {
      const size = this.size;
      if (this.closed || size === undefined) return;
      // Entries of another size are not wanted any more.
      for (let i = this.entries.length - 1; i >= 0; i--) {
        const e = this.entries[i]!;
        if (e.size !== size) {
          this.entries.splice(i, 1);
          await this.discard(e);
        }
      }
      if (this.entries.length >= this.target) return;
      const name = randomBytes(6).toString("hex");
      const entry = { file: path.join(this.options.dir, `pool-${name}.img`), size, mountPoint: path.join(this.options.mountDir, name) };
      this.owned.add(entry.file);
      try {
        await createScratchImage(entry.file, size);
        await mkdir(entry.mountPoint, { recursive: true });
        await mountScratch(entry.file, entry.mountPoint, this.options.uidBase);
      } catch (err) {
        await this.discard(entry);
        throw err;
      }
      if (this.closed) return this.discard(entry);
      this.entries.push(entry);
    }
  }
}
