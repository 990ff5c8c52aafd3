// Deno d.ts: `noThrow()` hands back a failed status instead of throwing.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const result = await sandbox.sh`exit 1`.noThrow();
assert.equal(result.status.success, false);
assert.equal(result.status.code, 1);
