// Deno docs (root): a snapshot of a bootable volume is bootable; sandboxes booted from it see its
// files, and their writes are discarded (the snapshot and its volume do not change).
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const image = await client.volumes.create({ slug: `base-${process.pid}`, region: "ord", capacity: "1GiB", from: "builtin:debian-12" });
{
  await using sandbox = await Sandbox.create({ region: "ord", root: image.slug });
  await sandbox.sh`echo baked > "$HOME/baked.txt" && sync`;
}
const snapshot = await client.volumes.snapshot(image.slug, { slug: `base-v1-${process.pid}` });
assert.equal(snapshot.isBootable, true);
{
  await using sandbox = await Sandbox.create({ region: "ord", root: snapshot.slug });
  assert.equal(await sandbox.sh`cat "$HOME/baked.txt"`.text(), "baked\n");
  await sandbox.sh`echo scratch > "$HOME/scratch.txt"`;
  assert.equal(await sandbox.sh`cat "$HOME/scratch.txt"`.text(), "scratch\n");
}
{
  await using sandbox = await Sandbox.create({ region: "ord", root: snapshot.id });
  assert.equal(await sandbox.sh`test -e "$HOME/scratch.txt" && echo kept || echo discarded`.text(), "discarded\n");
}
{
  await using sandbox = await Sandbox.create({ region: "ord", root: image.slug });
  assert.equal(await sandbox.sh`test -e "$HOME/scratch.txt" && echo kept || echo discarded`.text(), "discarded\n");
}
await client.snapshots.delete(snapshot.slug);
await client.volumes.delete(image.slug);
