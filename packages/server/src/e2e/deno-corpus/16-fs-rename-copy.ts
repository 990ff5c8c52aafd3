// Deno d.ts: rename and copyFile.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
await sandbox.fs.writeTextFile("/tmp/a.txt", "content");
await sandbox.fs.rename("/tmp/a.txt", "/tmp/b.txt");
await sandbox.fs.copyFile("/tmp/b.txt", "/tmp/c.txt");
assert.equal(await sandbox.fs.readTextFile("/tmp/c.txt"), "content");
assert.equal(await sandbox.sh`ls /tmp | grep -c '^[abc].txt$'`.text(), "2\n");
