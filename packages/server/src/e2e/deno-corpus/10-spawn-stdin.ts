// Deno d.ts: piped stdin is a WritableStream that reaches the process.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const child = await sandbox.spawn("cat", { stdin: "piped", stdout: "piped" });
const writer = child.stdin!.getWriter();
await writer.write(new TextEncoder().encode("from stdin\n"));
await writer.close();
const { stdoutText } = await child.output();
assert.equal(stdoutText, "from stdin\n");
