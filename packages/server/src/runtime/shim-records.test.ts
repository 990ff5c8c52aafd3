import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ShimRecords } from "./shim-records.js";

test("records round-trip; prune drops other sandboxes' records and dead shims' sockets", async () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "shim-records-")), "shims");
  try {
    const shims = new ShimRecords(dir);
    shims.prepare();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    await shims.write("keep", { shimPid: process.pid, ownerUid: 7 });
    await shims.write("gone", { shimPid: 4_194_303, ownerUid: 8 });
    assert.deepEqual(await shims.read("keep"), { shimPid: process.pid, ownerUid: 7 });
    assert.equal(await shims.read("missing"), undefined);
    writeFileSync(path.join(dir, "bad.json"), "{");
    assert.equal(await shims.read("bad"), undefined, "a damaged record is no record");
    writeFileSync(shims.socket(process.pid), "");
    writeFileSync(shims.socket(4_194_303), ""); // above any pid in use: a dead shim's
    await shims.prune(new Set(["keep"]));
    assert.deepEqual(readdirSync(dir).sort(), [`${process.pid}.sock`, "keep.json"]);
    await shims.remove("keep");
    assert.deepEqual(readdirSync(dir), [`${process.pid}.sock`], "a live shim's socket is its own to remove");
  } finally {
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
