import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import type { Logger } from "pino";
import { WarmPool, type WarmPoolOptions } from "./warm-pool.js";

/** Resolves once `cond()` holds; fails after a generous deadline (the host may be loaded). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `never: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A logger that records its warnings. */
function recordingLogger(): { logger: Logger; warnings: { obj: Record<string, unknown>; msg: string }[] } {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = { warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }) } as unknown as Logger;
  return { logger, warnings };
}

interface Item {
  n: number;
  kind: string;
}

/**
 * Fake make/release that record what happened: items numbered in order of making, each
 * claiming `key-<n>`; hold(from) holds the makes of items `from` and later until open().
 */
function fakePool(options: Partial<WarmPoolOptions<Item>> & { kind?: () => string; failWhile?: () => boolean } = {}) {
  const events: string[] = [];
  let made = 0;
  let making = 0;
  let maxConcurrent = 0;
  let gate: { from: number; promise: Promise<void>; open: () => void } | undefined;
  const pool = new WarmPool<Item>({
    name: "fake",
    target: 2,
    refillDelayMs: 0,
    retry: { firstMs: 1, maxMs: 8 },
    make: async (claim) => {
      making++;
      maxConcurrent = Math.max(maxConcurrent, making);
      try {
        const n = ++made;
        claim(`key-${n}`);
        if (gate && n >= gate.from) await gate.promise;
        await tick();
        if (options.failWhile?.()) {
          events.push(`fail ${n}`);
          throw new Error(`make ${n} failed`);
        }
        events.push(`make ${n}`);
        return { n, kind: options.kind?.() ?? "a" };
      } finally {
        making--;
      }
    },
    release: async (item) => {
      await tick();
      events.push(`release ${item.n}`);
    },
    ...options,
  });
  return {
    pool,
    events,
    get maxConcurrent() {
      return maxConcurrent;
    },
    hold(from = 1) {
      let open!: () => void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { from, promise, open };
    },
    open() {
      gate?.open();
      gate = undefined;
    },
  };
}

test("fills to its target one make at a time and hands items over oldest first", async () => {
  const f = fakePool({ target: 3 });
  f.pool.warm();
  await until(() => f.pool.size === 3, "three ready");
  assert.deepEqual(f.events, ["make 1", "make 2", "make 3"]);
  assert.equal(f.maxConcurrent, 1, "makes never overlap");
  assert.equal(f.pool.take()?.n, 1);
  assert.equal(f.pool.take()?.n, 2);
  // Each take refills the pool in the background.
  await until(() => f.pool.size === 3, "refilled to three");
  assert.deepEqual(
    f.pool.ready.map((i) => i.n),
    [3, 4, 5],
  );
  assert.equal(f.maxConcurrent, 1);
  await f.pool.close();
});

test("a take with a match skips the items that do not match; an empty pool gives undefined and refills", async () => {
  let kind = "a";
  const f = fakePool({ target: 2, kind: () => kind });
  f.pool.warm();
  await until(() => f.pool.size === 2, "two ready");
  kind = "b";
  assert.equal(
    f.pool.take((i) => i.kind === "b"),
    undefined,
  );
  assert.equal(f.pool.take((i) => i.kind === "a")?.n, 1);
  await until(() => f.pool.size === 2, "refilled");
  assert.equal(f.pool.take((i) => i.kind === "b")?.n, 3);
  const empty = fakePool({ target: 1 });
  assert.equal(empty.pool.take(), undefined, "nothing is ready before warm");
  await until(() => empty.pool.size === 1, "a take on an empty pool starts a refill");
  await Promise.all([f.pool.close(), empty.pool.close()]);
});

test("ready items that are not wanted any more are released before the next make", async () => {
  let wantedKind = "a";
  let kind = "a";
  const f = fakePool({ target: 2, kind: () => kind, wanted: (i) => i.kind === wantedKind });
  f.pool.warm();
  await until(() => f.pool.size === 2, "two ready");
  wantedKind = "b";
  kind = "b";
  f.pool.take((i) => i.kind === "b");
  await until(() => f.pool.ready.every((i) => i.kind === "b") && f.pool.size === 2, "two of the new kind");
  assert.deepEqual(f.events, ["make 1", "make 2", "release 1", "release 2", "make 3", "make 4"]);
  await f.pool.close();
});

test("a target of 0 makes nothing", async () => {
  const f = fakePool({ target: 0 });
  f.pool.warm();
  assert.equal(f.pool.take(), undefined);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(f.events, []);
  await f.pool.close();
});

test("close during a refill waits for the make under way, releases it and every ready item, and makes no more", async () => {
  const f = fakePool({ target: 3 });
  f.hold(2); // the make of item 2 waits
  f.pool.warm();
  await until(() => f.pool.size === 1, "one ready");
  await until(() => f.pool.owns("key-2"), "item 2 under way");
  let closed = false;
  const closing = f.pool.close().then(() => (closed = true));
  await tick();
  assert.equal(closed, false, "close waits for the make under way");
  f.open();
  await closing;
  assert.deepEqual(f.events, ["make 1", "make 2", "release 2", "release 1"]);
  assert.equal(f.pool.size, 0);
  assert.equal(f.pool.owns("key-1") || f.pool.owns("key-2"), false, "released items are not owned");
  f.pool.warm();
  assert.equal(f.pool.take(), undefined);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(f.events, ["make 1", "make 2", "release 2", "release 1"], "a closed pool makes nothing");
});

test("close cancels a pending refill", async () => {
  const f = fakePool({ target: 1, refillDelayMs: 50 });
  f.pool.warm();
  await until(() => f.pool.size === 1, "one ready");
  f.pool.take();
  await f.pool.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(f.events, ["make 1"]);
});

test("a failed make is logged, its claims dropped, and retried with a doubling backoff until one succeeds", async () => {
  let failing = true;
  const { logger, warnings } = recordingLogger();
  const f = fakePool({ target: 1, logger, failWhile: () => failing });
  f.pool.warm();
  await until(() => warnings.length >= 5, "five failures");
  assert.deepEqual(
    warnings.slice(0, 5).map((w) => w.obj.retryInMs),
    [1, 2, 4, 8, 8],
  );
  assert.ok(warnings.every((w) => w.msg === "fake pool refill failed" && w.obj.err instanceof Error));
  assert.equal(f.pool.size, 0);
  assert.equal(f.pool.owns("key-1"), false, "a failed make's claims are dropped");
  failing = false;
  await until(() => f.pool.size === 1, "a retry succeeds");
  assert.equal(f.maxConcurrent, 1, "retries never overlap");
  // After a success the backoff starts over.
  const failedAt = warnings.length;
  failing = true;
  f.pool.take();
  await until(() => warnings.length >= failedAt + 2, "two more failures");
  assert.deepEqual(
    warnings.slice(failedAt, failedAt + 2).map((w) => w.obj.retryInMs),
    [1, 2],
  );
  await f.pool.close();
});

test("a release that fails is logged and close still releases the other items", async () => {
  const { logger, warnings } = recordingLogger();
  const released: number[] = [];
  const f = fakePool({
    target: 3,
    logger,
    release: async (item) => {
      if (item.n === 2) throw new Error("busy");
      released.push(item.n);
    },
  });
  f.pool.warm();
  await until(() => f.pool.size === 3, "three ready");
  await f.pool.close();
  assert.deepEqual(released, [1, 3]);
  assert.deepEqual(
    warnings.map((w) => w.msg),
    ["releasing a fake pool entry failed"],
  );
  assert.equal(f.pool.owns("key-2"), false);
});

test("claims are owned while an item is made and ready, dropped at take unless kept until disown", async () => {
  const f = fakePool({ target: 2 });
  f.hold();
  f.pool.warm();
  await until(() => f.pool.owns("key-1"), "item 1 under way");
  assert.equal(f.pool.size, 0, "owned before it is ready");
  f.open();
  await until(() => f.pool.size === 2, "two ready");
  assert.ok(f.pool.owns("key-1") && f.pool.owns("key-2"));
  const first = f.pool.take();
  assert.equal(first?.n, 1);
  assert.equal(f.pool.owns("key-1"), false, "a taken item's claims are the taker's");
  const second = f.pool.take(undefined, { keepClaims: true })!;
  assert.equal(f.pool.owns("key-2"), true, "kept until disown");
  f.pool.disown(second);
  assert.equal(f.pool.owns("key-2"), false);
  assert.equal(f.pool.owns("key-9"), false);
  await f.pool.close();
});
