/**
 * The host disk budget of one daemon (issue 10, item 4; docs/operations.md "Disk space").
 *
 * What can take space on the filesystem of the state directory:
 * - volumes: their images are allocated in full when created (fallocate), so they are real,
 *   already-taken space and a neighbour can never make them fail to grow (no EIO);
 * - scratch filesystems (sandbox roots): sparse images that grow as the sandbox writes, up to
 *   its rootfsSize. What they may still take (their *growth*, see disk-shares.ts) is promised.
 *
 * The budget keeps `Σ growth ≤ free − reserve` at all times, so no sandbox can bring the host
 * below its reserve. Admission (a new scratch or volume) and every balloon change run one at a
 * time under one mutex, with what is being created counted as pending: concurrent creates cannot
 * all pass.
 *
 * Overcommit (`overcommit: true`, the default): rootfs sizes may add up to more than the disk.
 * When a new sandbox or volume does not fit, running sandboxes' unused promises are squeezed
 * fairly (water-filling, never below a floor) by inflating a balloon file in their scratch
 * filesystem: the sandbox then gets ENOSPC in its own root earlier, nobody gets EIO. Balloons
 * shrink again (every few seconds) when space comes back. `overcommit: false`: every rootfs is
 * reserved in full and a create that does not fit is refused.
 */
import { stat, truncate } from "node:fs/promises";
import path from "node:path";
import { CapacityError } from "atoll/contract";
import type { Logger } from "pino";
import { KeyedMutex } from "./keyed-mutex.js";
import { statfsUsage } from "./mounts.js";
import type { CommandRunner } from "./run-command.js";
import { type ScratchShare, balloonTarget, deflatePlan, growthOf, roomOf, scratchMetadataEstimate, squeezePlan, waterLevel } from "./disk-shares.js";
import { scratchInodeCountFor } from "./inode-sizing.js";

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/**
 * The least a sandbox can write in its root when the disk is shared: it is never squeezed (or
 * created) below this plus its filesystem's metadata (inode tables: counted, since creating
 * files makes the host allocate them). A 10 GiB root's floor is 64 + 90 MiB of host disk.
 */
export const SCRATCH_FLOOR_BYTES = 64 * MIB;
/** Name of the balloon file in the root of a scratch filesystem (outside the overlay's upper/). */
export const BALLOON_NAME = ".atoll-reserve";
const REBALANCE_MS = 5000;

export interface DiskBudgetOptions {
  /** The state directory: its filesystem is the one budgeted. */
  stateDir: string;
  /** Runs fstrim and fallocate (the daemon's host spawner). */
  runner: CommandRunner;
  /** Bytes always left free; default: 5% of the filesystem, at least 256 MiB, at most 10 GiB. */
  reserveBytes?: number | undefined;
  /** Squeeze running sandboxes' unused rootfs fairly instead of refusing (default true). */
  overcommit?: boolean;
  logger?: Logger | undefined;
}

/** The default reserve for a filesystem of `totalBytes`. */
export function defaultReserve(totalBytes: number): number {
  return Math.min(10 * GIB, Math.max(256 * MIB, Math.floor(totalBytes * 0.05)));
}

interface Scratch extends ScratchShare {
  image: string;
  mountPoint: string;
  /** Bytes of the image its filesystem keeps for itself (measured when it was attached). */
  metadataBytes: number;
}

/** What a scratch of `capBytes` keeps for itself, before it exists. */
const metadataEstimate = (capBytes: number) => scratchMetadataEstimate(capBytes, scratchInodeCountFor(capBytes));

/**
 * An admitted scratch not made yet, counted by what it may write until `attach` (or `cancel`). It
 * can be squeezed like a live one meanwhile (concurrent creates): its balloon is only made at attach.
 */
export interface ScratchGrant {
  readonly id: string;
}

const fmt = (bytes: number) => (bytes >= GIB ? `${(bytes / GIB).toFixed(2)} GiB` : `${Math.floor(bytes / MIB)} MiB`);

export class DiskBudget {
  readonly overcommit: boolean;
  private reserve: number | undefined;
  private readonly scratches = new Map<string, Scratch>();
  /** Admitted scratches not made yet (sandbox id → cap and the balloon it will get). */
  private readonly grants = new Map<string, { capBytes: number; balloonBytes: number }>();
  /** Volumes being allocated: bytes still to be taken (the size minus what the image has). */
  private readonly pending = new Map<object, { bytes: number; image: string; left: number }>();
  private readonly lock = new KeyedMutex();
  /** Other holders of promised growth (the copy-on-write pool: storage/cow-pool.ts), by name, with their last measure. */
  private readonly others = new Map<string, { measure: () => Promise<number>; bytes: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DiskBudgetOptions) {
    this.overcommit = opts.overcommit ?? true;
    this.reserve = opts.reserveBytes;
  }

  /** Bytes kept free on the state filesystem. */
  async reserveBytes(): Promise<number> {
    this.reserve ??= defaultReserve((await statfsUsage(this.opts.stateDir)).totalBytes);
    return this.reserve;
  }

  /** Starts shrinking balloons when space comes back (every few seconds). */
  start(): void {
    this.timer ??= setInterval(() => void this.rebalance().catch((err: unknown) => this.opts.logger?.warn({ err }, "disk rebalance failed")), REBALANCE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Admits a new scratch filesystem of `capBytes` for sandbox `id`, or throws INSUFFICIENT_STORAGE
   * naming the numbers. The grant counts as pending until attach() or cancel().
   */
  admitScratch(id: string, capBytes: number): Promise<ScratchGrant> {
    return this.exclusive(async () => {
      const { budget, free, reserve } = await this.measure();
      if (capBytes > budget) {
        throw new CapacityError(
          "INSUFFICIENT_STORAGE",
          `A ${fmt(capBytes)} root filesystem does not fit: the host has ${fmt(free)} free and keeps ${fmt(reserve)} in reserve` +
            `${budget + reserve < free ? " (the rest is being given to volumes and sandboxes being created)" : ""}. Ask for a smaller rootfsSize.`,
          { requestedBytes: capBytes, availableBytes: Math.max(0, budget), freeBytes: free, reserveBytes: reserve },
        );
      }
      let headroom = budget - this.totalGrowth();
      let allowance = capBytes;
      if (capBytes > headroom) {
        if (!this.overcommit) throw this.promisedError(`a ${fmt(capBytes)} root filesystem`, capBytes, headroom, reserve);
        headroom += await this.squeeze(budget, [capBytes]);
        const fair = waterLevel([...this.shareList().map(roomOf), capBytes], budget - this.pendingBytes());
        allowance = Math.floor(Math.min(capBytes, headroom, fair) / 4096) * 4096;
        const floor = Math.min(capBytes, SCRATCH_FLOOR_BYTES + metadataEstimate(capBytes));
        if (allowance < floor) {
          throw new CapacityError(
            "INSUFFICIENT_STORAGE",
            `The host disk is shared by ${this.shareList().length} sandboxes: a new one would get ${fmt(Math.max(0, allowance))} of root filesystem, ` +
              `less than the ${fmt(floor)} minimum. Kill sandboxes or delete volumes you no longer need.`,
            { requestedBytes: capBytes, availableBytes: Math.max(0, allowance), minimumBytes: floor, reserveBytes: reserve },
          );
        }
      }
      this.grants.set(id, { capBytes, balloonBytes: capBytes - allowance });
      return { id };
    });
  }

  /**
   * The granted scratch exists (image and mount): gives it its balloon, if any, and counts it
   * from now on by what it can still grow. On failure the grant is cancelled and the error thrown.
   */
  attach(grant: ScratchGrant, where: { image: string; mountPoint: string; capBytes: number }): Promise<void> {
    return this.exclusive(async () => {
      try {
        // What mkfs allocated, and what the filesystem offers to files: the rest is its metadata.
        const allocBytes = await stat(where.image).then((st) => st.blocks * 512);
        const free = (await statfsUsage(where.mountPoint)).availableBytes;
        const metadataBytes = Math.max(0, where.capBytes - allocBytes - free);
        const s: Scratch = {
          id: grant.id,
          capBytes: where.capBytes,
          allocBytes,
          balloonBytes: 0,
          image: where.image,
          mountPoint: where.mountPoint,
          metadataBytes,
        };
        const balloon = this.grants.get(grant.id)?.balloonBytes ?? 0;
        if (balloon > 0) await this.inflate(s, balloon, false);
        this.scratches.set(grant.id, s);
      } finally {
        this.grants.delete(grant.id);
      }
    });
  }

  /**
   * A sandbox of the previous daemon run was adopted with its scratch (docs/architecture.md, "Live
   * restore"): count it again as it is, balloon included. Its blocks are already out of the free
   * space, so there is nothing to admit; no host command runs (many are adopted at once at start).
   */
  adoptScratch(id: string, where: { image: string; mountPoint: string; capBytes: number }): Promise<void> {
    return this.exclusive(async () => {
      const balloonBytes = await stat(path.join(where.mountPoint, BALLOON_NAME)).then(
        (st) => Math.min(st.size, st.blocks * 512),
        () => 0,
      );
      const allocBytes = await stat(where.image).then((st) => st.blocks * 512);
      const free = (await statfsUsage(where.mountPoint)).availableBytes;
      // The measure attach() takes (data blocks are in the image and not free, so they cancel
      // out); after deletes without discard it reads low, which only lowers the squeeze floor.
      const metadataBytes = Math.max(0, where.capBytes - allocBytes - free);
      this.scratches.set(id, { id, capBytes: where.capBytes, allocBytes, balloonBytes, image: where.image, mountPoint: where.mountPoint, metadataBytes });
    });
  }

  /** A grant whose scratch was never made. */
  cancel(grant: ScratchGrant): void {
    this.grants.delete(grant.id);
  }

  /** The scratch of `id` is gone (its image deleted): it no longer counts. */
  forget(id: string): void {
    this.scratches.delete(id);
  }

  /**
   * Admits a volume of `bytes` whose image (`image`) the caller then allocates in full; `create`
   * runs with the bytes not yet allocated counted as pending (concurrent admissions see them).
   */
  withVolume<T>(bytes: number, image: string, create: () => Promise<T>): Promise<T> {
    const token = {};
    const admitted = this.exclusive(async () => {
      // What the image lacks (all of it for a new volume; the holes of an old sparse one), read
      // before the free space for the same reason as in measure().
      const need = await stat(image).then(
        (st) => Math.max(0, bytes - st.blocks * 512),
        () => bytes,
      );
      const { budget, free, reserve } = await this.measure();
      if (need > budget) {
        throw new CapacityError(
          "INSUFFICIENT_STORAGE",
          `A ${fmt(bytes)} volume does not fit: the host has ${fmt(free)} free and keeps ${fmt(reserve)} in reserve` +
            `${budget + reserve < free ? " (the rest is being given to volumes and sandboxes being created)" : ""}. Delete unused volumes or ask for less.`,
          { requestedBytes: bytes, availableBytes: Math.max(0, budget), freeBytes: free, reserveBytes: reserve },
        );
      }
      let headroom = budget - this.totalGrowth();
      this.opts.logger?.debug({ need, free, reserve, headroom, pending: [...this.pending.values()].map((p) => p.left) }, "disk admission of a volume");
      if (need > headroom && this.overcommit) headroom += await this.squeeze(budget - need, []);
      if (need > headroom) throw this.promisedError(`a ${fmt(bytes)} volume`, bytes, headroom, reserve);
      this.pending.set(token, { bytes, image, left: need });
    });
    return admitted.then(() => create().finally(() => this.pending.delete(token)));
  }

  /**
   * Counts what `measure` says `name` may still take from the host (bytes it promised and has not
   * taken yet: the copy-on-write pool's blocks given to volumes but not yet written) as growth,
   * measured with the rest at every admission. Replaces an earlier source of the same name.
   */
  countGrowth(name: string, measure: () => Promise<number>): void {
    this.others.set(name, { measure, bytes: 0 });
  }

  /** Shrinks balloons when there is room again, squeezes when the host lost space. */
  rebalance(): Promise<void> {
    return this.exclusive(async () => {
      if (this.scratches.size + this.grants.size === 0) return;
      const { budget } = await this.measure();
      const headroom = budget - this.totalGrowth();
      if (headroom < 0 && this.overcommit) {
        await this.squeeze(budget, []);
        return;
      }
      for (const change of deflatePlan(this.shareList(), budget - this.pendingBytes())) {
        const s = this.scratches.get(change.id);
        const g = this.grants.get(change.id);
        if (g) g.balloonBytes = change.balloonBytes;
        if (s)
          await this.deflate(s, change.balloonBytes).catch((err: unknown) =>
            this.opts.logger?.warn({ err, sandboxId: s.id }, "shrinking a disk balloon failed"),
          );
      }
    });
  }

  /** What each scratch (live or granted) may still take, for tests and metrics. */
  shares(): ScratchShare[] {
    return this.shareList().map(({ id, capBytes, allocBytes, balloonBytes }) => ({ id, capBytes, allocBytes, balloonBytes }));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run("disk", fn);
  }

  private pendingBytes(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.left;
    return n;
  }

  /** Live scratches and granted ones (as shares with nothing allocated yet). */
  private shareList(): ScratchShare[] {
    const granted = [...this.grants].map(([id, g]) => ({ id, capBytes: g.capBytes, allocBytes: 0, balloonBytes: g.balloonBytes }));
    return [...this.scratches.values(), ...granted];
  }

  private totalGrowth(): number {
    let others = 0;
    for (const o of this.others.values()) others += o.bytes;
    return this.shareList().reduce((n, s) => n + growthOf(s), 0) + this.pendingBytes() + others;
  }

  /**
   * Fresh figures: the allocation of every scratch image and pending image, then the free space.
   * In that order: blocks allocated in between lower `free` after they were counted as still to
   * come, which counts them twice (safe); the other order could count them not at all.
   */
  private async measure(): Promise<{ budget: number; free: number; reserve: number }> {
    const reserve = await this.reserveBytes();
    await Promise.all([
      ...[...this.scratches.values()].map(async (s) => {
        // A missing image (being torn down) has nothing more to grow.
        s.allocBytes = await stat(s.image).then(
          (st) => st.blocks * 512,
          () => s.capBytes,
        );
      }),
      ...[...this.pending.values()].map(async (p) => {
        // Blocks an image already has are in `free` already: count only the rest.
        p.left = await stat(p.image).then(
          (st) => Math.max(0, p.bytes - st.blocks * 512),
          () => p.bytes,
        );
      }),
    ]);
    // After the pending images: a block an image gets in between leaves "pending" and enters the
    // pool's growth, counted twice (safe); the other order could miss it.
    for (const o of this.others.values()) o.bytes = await o.measure();
    const free = (await statfsUsage(this.opts.stateDir)).availableBytes;
    return { budget: free - reserve, free, reserve };
  }

  /**
   * Inflates balloons so the scratches fit `budget` (what creates in flight do not hold already,
   * plus `extra` newcomers); returns the growth freed.
   */
  private async squeeze(budget: number, extra: number[]): Promise<number> {
    const before = this.totalGrowth();
    const floorOf = (s: ScratchShare) => Math.min(s.capBytes, SCRATCH_FLOOR_BYTES + (this.scratches.get(s.id)?.metadataBytes ?? metadataEstimate(s.capBytes)));
    for (const change of squeezePlan(this.shareList(), budget - this.pendingBytes(), floorOf, extra)) {
      const s = this.scratches.get(change.id);
      const g = this.grants.get(change.id);
      if (g && change.balloonBytes > g.balloonBytes) g.balloonBytes = change.balloonBytes; // made at attach
      if (s && change.balloonBytes > s.balloonBytes) await this.inflate(s, change.balloonBytes, true);
    }
    return before - this.totalGrowth();
  }

  /**
   * Grows the balloon of `s` to `bytes`, as far as its filesystem has free blocks beyond the
   * SCRATCH_FLOOR_BYTES its sandbox keeps writable (a balloon that took the last blocks once left
   * a new sandbox's overlay unable to mount: EROFS). `trim` first discards the scratch's free
   * blocks, so the balloon lands on holes of the image and really keeps that much host space
   * unused (a fresh scratch has nothing to trim).
   */
  private async inflate(s: Scratch, bytes: number, trim: boolean): Promise<void> {
    const file = path.join(s.mountPoint, BALLOON_NAME);
    try {
      if (trim) await this.opts.runner.run("fstrim", [s.mountPoint]);
      const target = balloonTarget(bytes, s.balloonBytes, (await statfsUsage(s.mountPoint)).availableBytes, SCRATCH_FLOOR_BYTES);
      if (target <= s.balloonBytes) return;
      await this.opts.runner.run("fallocate", ["-l", String(target), file]);
    } catch (err) {
      // ENOSPC: the sandbox already uses part of it; the balloon keeps what it got.
      this.opts.logger?.info({ sandboxId: s.id, err }, "disk balloon only partly inflated");
    }
    s.balloonBytes = await stat(file).then(
      (st) => Math.min(st.size, st.blocks * 512),
      () => 0,
    );
    this.opts.logger?.info({ sandboxId: s.id, balloonBytes: s.balloonBytes, growthBytes: growthOf(s) }, "root filesystem squeezed to share the host disk");
  }

  private async deflate(s: Scratch, bytes: number): Promise<void> {
    await truncate(path.join(s.mountPoint, BALLOON_NAME), bytes);
    s.balloonBytes = bytes;
    this.opts.logger?.debug({ sandboxId: s.id, balloonBytes: bytes }, "disk balloon shrunk");
  }

  private promisedError(what: string, bytes: number, headroom: number, reserve: number): CapacityError {
    return new CapacityError(
      "INSUFFICIENT_STORAGE",
      `${what[0]!.toUpperCase()}${what.slice(1)} does not fit: after the ${fmt(reserve)} reserve, running sandboxes' root filesystems and volumes being created ` +
        `leave ${fmt(Math.max(0, headroom))} of the host disk (rootfs overcommit is ${this.overcommit ? "on" : "off"}). Kill sandboxes, delete volumes, or ask for less.`,
      { requestedBytes: bytes, availableBytes: Math.max(0, headroom), reserveBytes: reserve },
    );
  }
}
