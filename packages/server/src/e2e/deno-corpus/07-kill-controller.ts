// Deno d.ts (`signal()`): a KillController's SIGTERM kills the running command, exit code 143.
import assert from "node:assert/strict";
import { KillController, Sandbox, SandboxCommandError } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const controller = new KillController();
const cmd = sandbox.sh`sleep 5`.signal(controller.signal);
const promise = cmd.text();
setTimeout(() => controller.kill("SIGTERM"), 300);
await assert.rejects(promise, (e: unknown) => e instanceof SandboxCommandError && e.code === 143);
assert.equal(controller.signal.aborted, true);
