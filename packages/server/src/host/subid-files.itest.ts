/** updateSubidFile on real files as root (it gives new files shadow's owner). Parsing: subid-files.test.ts. */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readHostIds, updateSubidFile } from "./subid-files.js";

test("updateSubidFile writes atomically, keeps the mode, takes and releases shadow's lock", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-subid-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "subuid");
  writeFileSync(file, "alice:100000:65536\n");
  chmodSync(file, 0o640);
  const entry = { owner: "atoll", start: 1879048192, count: 131072 };
  assert.equal(updateSubidFile(file, entry), true);
  assert.equal(readFileSync(file, "utf8"), "alice:100000:65536\natoll:1879048192:131072\n");
  assert.equal(statSync(file).mode & 0o777, 0o640);
  assert.equal(updateSubidFile(file, entry), false, "nothing to change");
  assert.equal(existsSync(`${file}.lock`), false, "lock released");
  // A stale lock (dead pid) is broken; a new file is created 0644.
  writeFileSync(`${file}.lock`, "999999999");
  const fresh = join(dir, "subgid");
  assert.equal(updateSubidFile(fresh, entry), true);
  writeFileSync(`${fresh}.lock`, "999999999");
  assert.equal(updateSubidFile(fresh, undefined, [entry]), true);
  assert.equal(readFileSync(fresh, "utf8"), "");
  assert.equal(readHostIds(dir).subuid.length, 2);
  assert.deepEqual(readHostIds(join(dir, "missing")), { dir: join(dir, "missing"), subuid: [], subgid: [], users: [], groups: [] });
});
