// Deno d.ts: `.stdout("piped").result()` has the status, the bytes and the text.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const result = await sandbox.sh`echo "hello"`.stdout("piped").result();
assert.equal(result.status.success, true);
assert.ok(result.stdout instanceof Uint8Array);
assert.equal(result.stdoutText, "hello\n");
