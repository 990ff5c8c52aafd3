// Deno d.ts (client.sandboxes.list): labels filter the listing.
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const label = `list-${process.pid}`;
await using sandbox = await Sandbox.create({ labels: { suite: label } });
const listed = await new Client().sandboxes.list({ labels: { suite: label } });
assert.deepEqual(
  listed.filter((s) => s.status === "running").map((s) => s.id),
  [sandbox.id],
);
