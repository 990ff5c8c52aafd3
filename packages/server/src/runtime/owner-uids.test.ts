import assert from "node:assert/strict";
import { test } from "node:test";
import { OWNER_RANGE_SIZE, OwnerUids } from "./owner-uids.js";

test("owner uids come from [uidBase+65536, uidBase+131072), distinct while in use, reused as late as possible", () => {
  const owners = new OwnerUids(200000, 0);
  const a = owners.take();
  const b = owners.take();
  assert.equal(a, 265536);
  assert.equal(b, 265537);
  owners.release(a);
  assert.equal(owners.take(), 265538, "a released owner is not handed out again at once");
  const many = new Set<number>();
  const all = new OwnerUids(100000, 0);
  for (let i = 0; i < OWNER_RANGE_SIZE; i++) many.add(all.take());
  assert.equal(many.size, OWNER_RANGE_SIZE);
  assert.ok([...many].every((u) => u >= 165536 && u < 231072));
  assert.throws(() => all.take(), /in use/);
  all.release(170000);
  assert.equal(all.take(), 170000);
});
