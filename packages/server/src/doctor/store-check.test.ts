import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeStoreSchema } from "./store-check.js";

test("store schema: none yet and older are fine (older is migrated), newer fails with the fix", () => {
  assert.equal(judgeStoreSchema("/s/atoll.db", 0, 6).status, "ok");
  assert.match(judgeStoreSchema("/s/atoll.db", 3, 6).detail, /schema version 3: the daemon migrates it to 6 at start/);
  assert.equal(judgeStoreSchema("/s/atoll.db", 6, 6).status, "ok");
  const newer = judgeStoreSchema("/s/atoll.db", 7, 6);
  assert.equal(newer.status, "fail");
  assert.match(newer.detail, /schema version 7, newer than this release knows \(6\).*downgrades are refused/);
  assert.match(newer.fix!, /run the newer release again/);
});
