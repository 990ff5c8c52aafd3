import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type ScratchShare,
  MIN_BALLOON_CHANGE,
  balloonTarget,
  deflatePlan,
  growthOf,
  roomOf,
  scratchMetadataEstimate,
  squeezePlan,
  waterLevel,
} from "./disk-shares.js";

const GIB = 2 ** 30;
const MIB = 2 ** 20;
const share = (id: string, capBytes: number, allocBytes = 0, balloonBytes = 0): ScratchShare => ({ id, capBytes, allocBytes, balloonBytes });
const apply = (shares: ScratchShare[], changes: { id: string; balloonBytes: number }[]) =>
  shares.map((s) => ({ ...s, balloonBytes: changes.find((c) => c.id === s.id)?.balloonBytes ?? s.balloonBytes }));
const total = (shares: ScratchShare[]) => shares.reduce((n, s) => n + growthOf(s), 0);

test("room and growth: what a scratch can still take, with and without its balloon", () => {
  assert.equal(roomOf(share("a", 10 * GIB, 3 * GIB)), 7 * GIB);
  assert.equal(growthOf(share("a", 10 * GIB, 3 * GIB, 5 * GIB)), 2 * GIB);
  assert.equal(growthOf(share("a", 10 * GIB, 9 * GIB, 5 * GIB)), 0);
});

test("water level splits a budget fairly; small needs are met in full", () => {
  assert.equal(waterLevel([10, 10, 10], 30), Number.POSITIVE_INFINITY);
  assert.equal(waterLevel([10, 10, 10], 15), 5);
  assert.equal(waterLevel([2, 10, 10], 14), 6);
  assert.equal(waterLevel([1, 1, 100], 50), 48);
  assert.equal(waterLevel([5], 0), 0);
  assert.equal(waterLevel([], 10), Number.POSITIVE_INFINITY);
});

test("squeezing brings the largest promises below the fair level and never below the floor", () => {
  const shares = [share("a", 10 * GIB), share("b", 10 * GIB, 9 * GIB), share("c", 10 * GIB)];
  const floor = () => 128 * MIB;
  // Budget 8 GiB plus a 10 GiB newcomer: rooms 10, 1, 10, 10 → level ≈ 2.33 GiB.
  const changes = squeezePlan(shares, 8 * GIB, floor, [10 * GIB]);
  assert.deepEqual(changes.map((c) => c.id).sort(), ["a", "c"], "b's 1 GiB is below the level: untouched");
  const after = apply(shares, changes);
  const level = waterLevel([...shares.map(roomOf), 10 * GIB], 8 * GIB);
  for (const s of after.filter((x) => x.id !== "b")) assert.ok(growthOf(s) <= level && growthOf(s) >= 128 * MIB);
  assert.ok(total(after) + level <= 8 * GIB, "the newcomer's fair share fits beside them");
  // The floor holds even when the budget is gone.
  const starved = apply(shares, squeezePlan(shares, 0, floor));
  for (const s of starved) assert.ok(growthOf(s) >= Math.min(128 * MIB, roomOf(s)));
});

test("deflating gives headroom back, smallest shares first, never more than the budget", () => {
  const shares = [share("a", 10 * GIB, 0, 8 * GIB), share("b", 10 * GIB, 0, 9 * GIB), share("c", 1 * GIB)];
  // growth now: a 2, b 1, c 1 = 4 GiB; budget 10 GiB → 6 GiB to give back.
  const after = apply(shares, deflatePlan(shares, 10 * GIB));
  assert.ok(total(after) <= 10 * GIB);
  assert.ok(total(after) >= 10 * GIB - 2 * MIN_BALLOON_CHANGE, "the headroom is used");
  assert.ok(Math.abs(growthOf(after[0]!) - growthOf(after[1]!)) <= MIN_BALLOON_CHANGE, "a and b end up level");
  // Plenty of space: every balloon goes.
  assert.deepEqual(
    deflatePlan(shares, 100 * GIB).map((c) => c.balloonBytes),
    [0, 0],
  );
  // No headroom: nothing changes.
  assert.deepEqual(deflatePlan(shares, 4 * GIB), []);
});

test("a balloon never takes the last free bytes of its filesystem", () => {
  // The fresh 10 GiB root that once got a balloon larger than its free space (EROFS at mount).
  const free = 10_514_329_600;
  assert.equal(balloonTarget(10 * GIB - 223 * MIB, 0, free, 64 * MIB), Math.floor((free - 64 * MIB) / 4096) * 4096);
  assert.equal(balloonTarget(GIB, 0, free, 64 * MIB), GIB, "room to spare: the balloon asked for");
  assert.equal(balloonTarget(3 * GIB, 2 * GIB, 32 * MIB, 64 * MIB), 2 * GIB, "a sandbox already at the floor keeps its balloon as is");
  assert.equal(balloonTarget(GIB, 2 * GIB, free, 64 * MIB), 2 * GIB, "never shrinks");
});

test("the metadata estimate bounds what mkfs leaves out of a scratch", () => {
  // Measured: cap, inodes, bytes statfs does not offer to files.
  for (const [cap, inodes, measured] of [
    [64 * MIB, 16_384, 5446 * 1024],
    [GIB, 262_144, 82_044 * 1024],
    [10 * GIB, 299_008, 92_032 * 1024],
    [100 * GIB, 667_648, 193_244 * 1024],
  ] as const) {
    const estimate = scratchMetadataEstimate(cap, inodes);
    assert.ok(estimate >= measured && estimate < measured + 256 * MIB, `${cap}: ${estimate} vs ${measured}`);
  }
});
