// Deno d.ts (SandboxFs): text and bytes round-trip; relative paths are in the home directory.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
await sandbox.fs.writeTextFile("hello.txt", "Hello, Deno Sandbox!");
assert.equal(await sandbox.fs.readTextFile("hello.txt"), "Hello, Deno Sandbox!");
assert.equal(await sandbox.sh`cat "$HOME/hello.txt"`.text(), "Hello, Deno Sandbox!");
await sandbox.fs.writeFile("/tmp/bytes.bin", new Uint8Array([0, 1, 2, 255]));
assert.deepEqual([...(await sandbox.fs.readFile("/tmp/bytes.bin"))], [0, 1, 2, 255]);
