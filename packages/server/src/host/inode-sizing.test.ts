import assert from "node:assert/strict";
import { test } from "node:test";
import { inodeCountFor } from "./inode-sizing.js";

const GiB = 2 ** 30;

test("one inode per 4 KiB up to 2^20 inodes, then a flat 2^20, then ext4's one per 16 KiB", () => {
  assert.equal(inodeCountFor(64 * 2 ** 20), 16_384);
  assert.equal(inodeCountFor(GiB), 262_144);
  assert.ok(inodeCountFor(GiB) >= 250_000, "a 1 GiB volume holds at least 250,000 files");
  assert.equal(inodeCountFor(4 * GiB), 2 ** 20);
  assert.equal(inodeCountFor(10 * GiB), 2 ** 20);
  assert.equal(inodeCountFor(16 * GiB), 2 ** 20);
  assert.equal(inodeCountFor(20 * GiB), 1_310_720);
  assert.equal(inodeCountFor(1024 * GiB), 1024 * GiB / 16384);
});

test("never fewer inodes than ext4's default, and the count grows with the size", () => {
  let previous = 0;
  for (let size = 2 ** 20; size <= 64 * GiB; size += 2 ** 27) {
    const n = inodeCountFor(size);
    assert.ok(n >= Math.floor(size / 16384), `${size}: ${n}`);
    assert.ok(n >= previous, `${size}: ${n} < ${previous}`);
    previous = n;
  }
});

test("a size that is not a positive integer is refused", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => inodeCountFor(bad), RangeError);
});
