import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLimit } from "./admin-commands.js";

test("quota limits: numbers, 'none' for no limit, anything else refused", () => {
  assert.equal(parseLimit("10", "--max-sandboxes"), 10);
  assert.equal(parseLimit("0.5", "--max-volume-gb"), 0.5);
  assert.equal(parseLimit("none", "--max-sandboxes"), null);
  for (const bad of ["", "-1", "ten", "Infinity"]) assert.throws(() => parseLimit(bad, "--max-sandboxes"), /must be a number/);
});
