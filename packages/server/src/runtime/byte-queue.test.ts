import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteQueue } from "./byte-queue.js";

test("take and peek across chunks return the bytes in order and keep the rest", () => {
  const all = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  // Uneven chunks, so reads start and end inside chunks and span several.
  const q = new ByteQueue();
  for (let off = 0, size = 1; off < all.length; off += size, size = (size * 7) % 97 || 1) q.push(all.subarray(off, off + size));
  assert.equal(q.length, 1000);
  let pos = 0;
  for (const n of [3, 1, 150, 0, 47, 299, 500]) {
    assert.deepEqual(q.peek(Math.min(n, q.length)), all.subarray(pos, pos + Math.min(n, q.length)));
    assert.deepEqual(q.take(n), all.subarray(pos, pos + n));
    pos += n;
    assert.equal(q.length, 1000 - pos);
  }
  assert.equal(q.length, 0);
});
