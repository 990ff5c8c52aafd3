import assert from "node:assert/strict";
import { test } from "node:test";
import { inodeCountFor } from "./inode-sizing.js";

const GiB = 2 ** 30;

test("one inode per 4 KiB of the first GiB, one per 16 KiB of the rest", () => {
  assert.equal(inodeCountFor(64 * 2 ** 20), 16_384);
  assert.equal(inodeCountFor(GiB), 262_144);
  assert.ok(inodeCountFor(GiB) >= 250_000, "a 1 GiB volume holds at least 250,000 files");
  assert.equal(inodeCountFor(5 * GiB), 524_288);
  assert.equal(inodeCountFor(10 * GiB), 851_968);
  assert.equal(inodeCountFor(20 * GiB), 1_507_328);
  assert.equal(inodeCountFor(1024 * GiB), 262_144 + (1023 * GiB) / 16384);
});

test("from 1 GiB on, always 196,608 inodes (48 MiB of tables) more than ext4's default, and never fewer below", () => {
  for (let size = 2 ** 20; size <= 64 * GiB; size += 2 ** 27) {
    const n = inodeCountFor(size);
    const extra = n - Math.floor(size / 16384);
    assert.ok(extra >= 0 && extra <= 196_608, `${size}: ${n}`);
    if (size >= GiB) assert.equal(extra, 196_608, `${size}`);
  }
});

test("a size that is not a positive integer is refused", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => inodeCountFor(bad), RangeError);
});
