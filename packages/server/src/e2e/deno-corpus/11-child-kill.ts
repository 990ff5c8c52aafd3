// Deno d.ts (ChildProcess.kill): SIGKILL ends the process; its status names the signal.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const child = await sandbox.spawn("sleep", { args: ["10"] });
await child.kill("SIGKILL");
const status = await child.status;
assert.equal(status.signal, "SIGKILL");
assert.equal(status.success, false);
