// Deno d.ts: makeTempDir and makeTempFile give fresh paths that exist.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const dir = await sandbox.fs.makeTempDir();
const file = await sandbox.fs.makeTempFile();
assert.equal((await sandbox.fs.stat(dir)).isDirectory, true);
assert.equal((await sandbox.fs.stat(file)).isFile, true);
assert.notEqual(dir, file);
