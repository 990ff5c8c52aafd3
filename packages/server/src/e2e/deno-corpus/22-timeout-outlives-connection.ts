// Deno docs: a sandbox with a fixed timeout keeps running after its connection closes
// (`await using` only closes the connection); it is found by label and killed explicitly.
import assert from "node:assert/strict";
import { Client } from "@deno/sandbox";

const client = new Client();
const label = `timed-${process.pid}`;
let id = "";
{
  await using sandbox = await client.sandboxes.create({ timeout: "5m", labels: { corpus: label } });
  id = sandbox.id;
}
const listed = await client.sandboxes.list({ labels: { corpus: label } });
const meta = listed.find((s) => s.id === id);
assert.equal(meta?.status, "running");
const again = await client.sandboxes.connect(id, {});
await again.kill();
