/**
 * A small warm pool of formatted scratch images (sparse ext4 without a journal), so creating a
 * sandbox does not wait for mkfs. Images live in `<stateDir>/scratch/`: pool entries as
 * `pool-<random>.img`, taken ones renamed to `<sandboxId>.img`. The pool refills in the
 * background for the size most recently asked for.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { createExt4Image } from "../host/ext4-image.js";

export interface ScratchPoolOptions {
  /** Directory of the image files (`<stateDir>/scratch`). */
  dir: string;
  /** How many ready images to keep (default 2; 0 disables the pool). */
  target?: number;
  logger?: Logger | undefined;
}

interface Entry {
  file: string;
  size: number;
}

/** Makes a scratch image: sparse file + `mkfs.ext4 -O ^has_journal` (lazy init, -m 0). */
export async function createScratchImage(file: string, sizeBytes: number): Promise<void> {
  await createExt4Image(file, sizeBytes, { features: ["^has_journal"] });
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
   * Returns the formatted image of sandbox `id` (`<dir>/<id>.img`) of exactly `sizeBytes`:
   * a pool entry renamed, or a fresh one. The caller owns (and removes) the file.
   */
  async take(id: string, sizeBytes: number): Promise<string> {
    const file = this.imagePath(id);
    await mkdir(this.options.dir, { recursive: true });
    const i = this.entries.findIndex((e) => e.size === sizeBytes);
    let done = false;
    if (i >= 0) {
      const [entry] = this.entries.splice(i, 1);
      try {
        await rename(entry!.file, file);
        done = true;
      } catch (err) {
        this.options.logger?.warn({ err, file: entry!.file }, "scratch pool entry unusable; making a fresh image");
        await rm(entry!.file, { force: true });
      } finally {
        this.owned.delete(entry!.file);
      }
    }
    if (!done) await createScratchImage(file, sizeBytes);
    this.size = sizeBytes;
    this.refill();
    return file;
  }

  /** Fills the pool for `sizeBytes` in the background (e.g. the default size, at start). */
  warm(sizeBytes: number): void {
    this.size ??= sizeBytes;
    this.refill();
  }

  /** Stops refilling and deletes every pool image. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    for (const e of this.entries.splice(0)) {
      await rm(e.file, { force: true });
      this.owned.delete(e.file);
    }
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
          await rm(e.file, { force: true });
          this.owned.delete(e.file);
        }
      }
      if (this.entries.length >= this.target) return;
      const file = path.join(this.options.dir, `pool-${randomBytes(6).toString("hex")}.img`);
      this.owned.add(file);
      try {
        await createScratchImage(file, size);
      } catch (err) {
        this.owned.delete(file);
        throw err;
      }
      if (this.closed) {
        await rm(file, { force: true });
        this.owned.delete(file);
        return;
      }
      this.entries.push({ file, size });
    }
  }
}
