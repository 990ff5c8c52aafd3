/**
 * The life cycle shared by Atoll's warm pools (scratch filesystems, pre-started launchers,
 * network namespaces): keep `target` items ready, made one at a time in the background; a take
 * hands the oldest (matching) item over and refills shortly after, so the refill does not compete
 * with the launch it serves; close stops refilling and releases every ready item.
 *
 * Host resources of an item can be claimed by name while it is made (`claim`): the pool owns
 * them until the item is taken or released, so an orphan cleanup leaves them alone (`owns`).
 * A failed refill is logged and retried with backoff (1 s doubling to 30 s by default); a
 * successful make resets the backoff.
 *
 * @example
 * const pool = new WarmPool({ name: "thing", target: 2, make: async () => makeThing(), release: (t) => t.dispose() });
 * pool.warm();
 * const thing = pool.take() ?? (await makeThing());
 * await pool.close();
 */
import type { Logger } from "pino";

export interface WarmPoolOptions<T> {
  /** What the pool holds, for log messages ("scratch", "launcher", …). */
  name: string;
  /** How many ready items to keep (0 disables the pool). */
  target: number;
  /**
   * Makes one ready item. On failure it leaves nothing behind (its claims are dropped).
   * `claim(key)` marks a host resource (a file, a cgroup name) as the pool's from now on.
   */
  make(claim: (key: string) => void): Promise<T>;
  /** Releases a ready item the pool no longer wants (close, or not `wanted` any more). */
  release(item: T): Promise<void>;
  /** false for a ready item that is not wanted any more: released before the next make. */
  wanted?(item: T): boolean;
  logger?: Logger | undefined;
  /** Delay between a take and the refill it starts (default 250 ms). */
  refillDelayMs?: number;
  /** Backoff of refills after a failure: first delay, then doubled up to `maxMs`. */
  retry?: { firstMs: number; maxMs: number };
}

const DEFAULT_RETRY = { firstMs: 1000, maxMs: 30_000 };

export class WarmPool<T> {
  private readonly items: T[] = [];
  /** Keys claimed per item (ready, or handed over and not yet disowned). */
  private readonly claims = new Map<T, string[]>();
  /** Every key the pool owns now, including those of the item being made. */
  private readonly owned = new Set<string>();
  private filling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Delay of the next retry after a failure; undefined while refills succeed. */
  private backoffMs: number | undefined;
  private closed = false;

  constructor(private readonly opts: WarmPoolOptions<T>) {}

  /** Ready items, oldest first. */
  get ready(): readonly T[] {
    return this.items;
  }

  get size(): number {
    return this.items.length;
  }

  /** true for keys the pool claimed and still owns: orphan cleanup must leave them alone. */
  owns(key: string): boolean {
    return this.owned.has(key);
  }

  /** Starts filling the pool in the background now (also cutting short a pending delay or retry). */
  warm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.refill();
  }

  /**
   * Hands over the oldest ready item that `match`es (any, without `match`), or undefined; a
   * refill starts shortly after (`refillDelayMs`), or, with `deferRefill`, once the taker calls
   * refillSoon() (e.g. when the sandbox it launches has started). The item's claims are dropped,
   * unless `keepClaims`: then the pool owns them until disown(item) (e.g. until the resource is
   * renamed away from its pool name).
   */
  take(match?: (item: T) => boolean, options: { keepClaims?: boolean; deferRefill?: boolean } = {}): T | undefined {
    const i = match ? this.items.findIndex(match) : this.items.length > 0 ? 0 : -1;
    const [item] = i >= 0 ? this.items.splice(i, 1) : [];
    if (item !== undefined && !options.keepClaims) this.disown(item);
    if (!options.deferRefill) this.refillSoon();
    return item;
  }

  /** Refills after `refillDelayMs` (default 250 ms), unless a refill or a retry is scheduled already. */
  refillSoon(): void {
    this.refillLater(this.opts.refillDelayMs ?? 250);
  }

  /** Drops the claims of a taken item: its resources are the taker's now. */
  disown(item: T): void {
    for (const key of this.claims.get(item) ?? []) this.owned.delete(key);
    this.claims.delete(item);
  }

  /** Stops refilling (waits for a make under way) and releases every ready item. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.filling;
    for (const item of this.items.splice(0)) await this.discard(item);
  }

  /** Refills after `ms` unless a refill is scheduled already (a retry after a failure waits its turn). */
  private refillLater(ms: number): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
    }, ms);
    this.timer.unref();
  }

  private refill(): void {
    if (this.filling || this.closed || this.timer || this.opts.target <= 0) return;
    this.filling = this.fill()
      .catch((err: unknown) => {
        const retry = this.opts.retry ?? DEFAULT_RETRY;
        const delay = this.backoffMs ?? retry.firstMs;
        this.backoffMs = Math.min(delay * 2, retry.maxMs);
        this.opts.logger?.warn({ err, retryInMs: delay }, `${this.opts.name} pool refill failed`);
        clearTimeout(this.timer);
        this.timer = undefined;
        this.refillLater(delay);
      })
      .finally(() => {
        this.filling = undefined;
      });
  }

  private async fill(): Promise<void> {
    while (!this.closed) {
      for (const item of this.items.filter((it) => this.opts.wanted?.(it) === false)) {
        this.items.splice(this.items.indexOf(item), 1);
        await this.discard(item);
      }
      if (this.items.length >= this.opts.target) return;
      const keys: string[] = [];
      let item: T;
      try {
        item = await this.opts.make((key) => {
          keys.push(key);
          this.owned.add(key);
        });
      } catch (err) {
        for (const key of keys) this.owned.delete(key);
        throw err;
      }
      this.claims.set(item, keys);
      this.backoffMs = undefined;
      if (this.closed) await this.discard(item);
      else this.items.push(item);
    }
  }

  /** Releases a ready item; a failure is logged (the item is gone from the pool either way). */
  private async discard(item: T): Promise<void> {
    try {
      await this.opts.release(item);
    } catch (err) {
      this.opts.logger?.warn({ err }, `releasing a ${this.opts.name} pool entry failed`);
    } finally {
      this.disown(item);
    }
  }
}
