// Deno d.ts: symlink, readLink, realPath, lstat.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
await sandbox.fs.writeTextFile("/tmp/target.txt", "t");
await sandbox.fs.symlink("/tmp/target.txt", "/tmp/link");
assert.equal(await sandbox.fs.readLink("/tmp/link"), "/tmp/target.txt");
assert.equal(await sandbox.fs.realPath("/tmp/link"), "/tmp/target.txt");
assert.equal((await sandbox.fs.lstat("/tmp/link")).isSymlink, true);
