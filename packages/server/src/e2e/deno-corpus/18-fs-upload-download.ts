// Deno d.ts: upload a local directory into an existing sandbox directory (it is created there
// under its own name), download a file back.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sandbox } from "@deno/sandbox";

const local = mkdtempSync(join(tmpdir(), "deno-corpus-"));
try {
  mkdirSync(join(local, "proj/src"), { recursive: true });
  writeFileSync(join(local, "proj/src/main.ts"), "console.log(1)\n");
  await using sandbox = await Sandbox.create();
  await sandbox.fs.upload(join(local, "proj"), "/tmp");
  assert.equal(await sandbox.fs.readTextFile("/tmp/proj/src/main.ts"), "console.log(1)\n");
  await sandbox.fs.download("/tmp/proj/src/main.ts", join(local, "main.ts"));
  assert.equal(readFileSync(join(local, "main.ts"), "utf8"), "console.log(1)\n");
} finally {
  rmSync(local, { recursive: true, force: true });
}
