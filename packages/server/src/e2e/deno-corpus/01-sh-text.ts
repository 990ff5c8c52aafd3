// Deno docs: `.text()` returns stdout as it is, trailing newline included.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const output = await sandbox.sh`echo "hello world"`.text();
assert.equal(output, "hello world\n");
