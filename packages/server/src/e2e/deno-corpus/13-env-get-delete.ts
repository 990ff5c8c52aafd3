// Deno d.ts (SandboxEnv): get, delete and toObject.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create({ env: { GREETING: "hi" } });
assert.equal(await sandbox.env.get("GREETING"), "hi");
await sandbox.env.set("NAME", "x");
await sandbox.env.delete("NAME");
assert.equal(await sandbox.env.get("NAME"), undefined);
assert.equal((await sandbox.env.toObject()).GREETING, "hi");
