// Deno: a failed command throws SandboxCommandError whose `code` is the exit code; the message
// leaves the command out so that secrets do not reach logs.
import assert from "node:assert/strict";
import { Sandbox, SandboxCommandError } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const token = "s3cr3t-token";
await assert.rejects(sandbox.sh`test ${token} = other || exit 3`.result(), (e: unknown) => {
  assert.ok(e instanceof SandboxCommandError);
  assert.equal(e.code, 3);
  assert.doesNotMatch(e.message, /s3cr3t-token/);
  return true;
});
