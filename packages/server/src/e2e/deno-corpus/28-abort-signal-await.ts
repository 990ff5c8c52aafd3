// Deno d.ts (`sh`): awaiting a command given `.signal(AbortSignal.timeout(…))` ends it with
// SIGTERM: exit code 143, a SandboxCommandError since the command failed.
import assert from "node:assert/strict";
import { Sandbox, SandboxCommandError } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const started = Date.now();
await assert.rejects(
  async () => {
    await sandbox.sh`sleep 30`.signal(AbortSignal.timeout(500));
  },
  (e: unknown) => e instanceof SandboxCommandError && e.code === 143,
);
assert.ok(Date.now() - started < 25_000, "killed, not run to its end");
