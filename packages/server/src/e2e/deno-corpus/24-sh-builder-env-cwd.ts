// Deno d.ts (SandboxCommandBuilder): `.cwd()` and `.env()` apply to the command they build.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
assert.equal(await sandbox.sh`pwd`.cwd("/tmp").text(), "/tmp\n");
assert.equal(await sandbox.sh`echo "$WHO"`.env("WHO", "builder").text(), "builder\n");
