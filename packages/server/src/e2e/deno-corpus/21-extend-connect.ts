// Deno d.ts: extendTimeout resolves to the new deadline (a Date); Sandbox.connect({ id }) joins
// a running sandbox.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

const sandbox = await Sandbox.create({ timeout: "5m" });
try {
  const stopAt = await sandbox.extendTimeout("10m");
  assert.ok(stopAt instanceof Date);
  assert.ok(stopAt.getTime() > Date.now() + 9 * 60_000);
  await sandbox.fs.writeTextFile("/tmp/mark", "here");
  await using again = await Sandbox.connect({ id: sandbox.id });
  assert.equal(again.id, sandbox.id);
  assert.equal(await again.fs.readTextFile("/tmp/mark"), "here");
} finally {
  await sandbox.kill();
}
