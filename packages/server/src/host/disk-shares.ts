/**
 * The arithmetic of the host disk budget (host/disk-budget.ts), kept free of I/O so it can be
 * tested on its own.
 *
 * Every scratch filesystem (a sandbox's writable root) is a sparse image of `capBytes`; `allocBytes`
 * of it are allocated on the host, and a "balloon" file of `balloonBytes` inside it (allocated
 * in the scratch filesystem, a hole in the image) keeps the sandbox from using that part. What
 * the scratch can still take from the host is its *growth*: cap − alloc − balloon. The budget
 * keeps Σ growth ≤ free − reserve, so the host never falls below its reserve whatever the
 * sandboxes write.
 */

/** One live scratch filesystem as the budget sees it. */
export interface ScratchShare {
  id: string;
  capBytes: number;
  /** Bytes of the image allocated on the host (st_blocks × 512). */
  allocBytes: number;
  /** Size of its balloon file (0: none). */
  balloonBytes: number;
}

/** What the scratch could still take from the host without a balloon. */
export function roomOf(s: ScratchShare): number {
  return Math.max(0, s.capBytes - s.allocBytes);
}

/** What the scratch can still take from the host with its balloon. */
export function growthOf(s: ScratchShare): number {
  return Math.max(0, roomOf(s) - s.balloonBytes);
}

/**
 * Water-filling: the level w such that Σ min(room, w) = budget, i.e. the largest share every
 * scratch can have when the budget is split fairly (a scratch that needs less than w keeps all
 * it needs). Infinity when every room fits; 0 when the budget is not positive.
 */
export function waterLevel(rooms: readonly number[], budget: number): number {
  if (budget <= 0) return 0;
  const sorted = [...rooms].sort((a, b) => a - b);
  let left = budget;
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const k = sorted.length - i;
    if (r * k > left) return left / k;
    left -= r;
  }
  return Number.POSITIVE_INFINITY;
}

/** A scratch whose balloon should change to `balloonBytes`. */
export interface BalloonChange {
  id: string;
  balloonBytes: number;
}

/** Changes smaller than this are not worth a command. */
export const MIN_BALLOON_CHANGE = 16 * 2 ** 20;
/** Squeezing goes a little below the fair level so that the next few creates need no squeeze. */
const SQUEEZE_HEADROOM = 0.8;

/**
 * The balloons to inflate so that the scratches' growth fits `budget` fairly: every scratch above
 * the water level is brought down to max(floor, level × 0.8), largest first. `floorOf` is the
 * least a scratch keeps (it is never squeezed below it).
 */
export function squeezePlan(
  shares: readonly ScratchShare[],
  budget: number,
  floorOf: (s: ScratchShare) => number,
  extraRooms: readonly number[] = [],
): BalloonChange[] {
  const level = waterLevel([...shares.map(roomOf), ...extraRooms], budget);
  if (level === Number.POSITIVE_INFINITY) return [];
  const changes: BalloonChange[] = [];
  for (const s of [...shares].sort((a, b) => growthOf(b) - growthOf(a))) {
    const keep = Math.max(floorOf(s), Math.floor(level * SQUEEZE_HEADROOM));
    if (growthOf(s) - keep < MIN_BALLOON_CHANGE) continue;
    changes.push({ id: s.id, balloonBytes: roomOf(s) - keep });
  }
  return changes;
}

/**
 * The balloons to shrink when there is headroom again (`budget` − Σ growth > 0): the smallest
 * shares get room first, each up to the fair level, never more than the headroom in all.
 */
export function deflatePlan(shares: readonly ScratchShare[], budget: number): BalloonChange[] {
  let headroom = budget - shares.reduce((n, s) => n + growthOf(s), 0);
  if (headroom <= 0) return [];
  const level = waterLevel(shares.map(roomOf), budget);
  const changes: BalloonChange[] = [];
  for (const s of [...shares].filter((x) => x.balloonBytes > 0).sort((a, b) => growthOf(a) - growthOf(b))) {
    const give = Math.min(s.balloonBytes, headroom, Math.max(0, level - growthOf(s)));
    const balloonBytes = give >= s.balloonBytes ? 0 : Math.ceil((s.balloonBytes - give) / 4096) * 4096;
    if (s.balloonBytes - balloonBytes < MIN_BALLOON_CHANGE && balloonBytes !== 0) continue;
    if (balloonBytes === s.balloonBytes) continue;
    headroom -= s.balloonBytes - balloonBytes;
    changes.push({ id: s.id, balloonBytes });
  }
  return changes;
}

/**
 * The size to give a balloon that should be `wanted` bytes, when its filesystem has `freeBytes`
 * left for files (statfs: the balloon's current `currentBytes` already excluded) and the sandbox
 * must keep `keepBytes` of them writable: the overlay needs a few blocks to mount, and a squeezed
 * sandbox must still run commands. Never shrinks (that is deflate's job).
 *
 * @example balloonTarget(10 * GIB, 0, 9.9 * GIB, 64 * MIB) // → 9.9 GiB − 64 MiB
 */
export function balloonTarget(wanted: number, currentBytes: number, freeBytes: number, keepBytes: number): number {
  const most = currentBytes + Math.max(0, freeBytes - keepBytes);
  return Math.max(currentBytes, Math.min(wanted, Math.floor(most / 4096) * 4096));
}

/**
 * What a fresh scratch filesystem of `capBytes` with `inodes` inodes keeps for itself (inode
 * tables, bitmaps, ext4's reserved clusters): bytes of the image its sandbox cannot fill with
 * file data but can make the host allocate, by creating files. An upper bound (measured, with
 * `mkfs.ext4 -O ^has_journal,^resize_inode`: 5.3 MiB of 64 MiB, 80 MiB of 1 GiB, 90 MiB of
 * 10 GiB); the budget uses the measured figure once the scratch exists.
 */
export function scratchMetadataEstimate(capBytes: number, inodes: number): number {
  return Math.ceil(inodes * 1.01) * 256 + 16 * 2 ** 20 + Math.ceil(capBytes / 512);
}
