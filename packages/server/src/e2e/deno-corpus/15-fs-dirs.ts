// Deno d.ts: stat, mkdir (recursive), readDir, remove (recursive); a missing file is an error.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
await sandbox.fs.writeTextFile("/tmp/f.txt", "12345");
const st = await sandbox.fs.stat("/tmp/f.txt");
assert.equal(st.isFile, true);
assert.equal(st.size, 5);
assert.ok(st.mtime instanceof Date);
await sandbox.fs.mkdir("/tmp/d/e", { recursive: true });
const names: string[] = [];
for await (const e of sandbox.fs.readDir("/tmp/d")) names.push(`${e.name}:${e.isDirectory}`);
assert.deepEqual(names, ["e:true"]);
await sandbox.fs.remove("/tmp/d", { recursive: true });
await assert.rejects(sandbox.fs.stat("/tmp/d"));
