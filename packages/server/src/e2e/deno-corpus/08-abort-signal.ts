// Deno d.ts: `signal()` takes an AbortSignal too; aborting sends SIGTERM (exit code 143).
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const result = await sandbox.sh`sleep 3`.signal(AbortSignal.timeout(300)).noThrow();
assert.equal(result.status.code, 143);
