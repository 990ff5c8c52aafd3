// Deno d.ts: spawn with piped output; output() has status, stdoutText and stderrText.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const child = await sandbox.spawn("bash", { args: ["-c", "echo hello; echo world >&2"], stdout: "piped", stderr: "piped" });
assert.ok(child.pid > 0);
const { status, stdoutText, stderrText } = await child.output();
assert.equal(status.success, true);
assert.equal(stdoutText, "hello\n");
assert.equal(stderrText, "world\n");
