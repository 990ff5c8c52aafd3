// Deno d.ts: kill() ends the sandbox; connecting again fails.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

const sandbox = await Sandbox.create({ timeout: "5m" });
assert.equal(await sandbox.sh`echo alive`.text(), "alive\n");
await sandbox.kill();
await assert.rejects(Sandbox.connect({ id: sandbox.id }));
