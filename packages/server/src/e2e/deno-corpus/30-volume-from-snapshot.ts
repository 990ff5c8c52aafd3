// Deno docs (snapshots): a volume created `from` a snapshot starts with the snapshot's data and is
// independent of it (copy-on-write); it names its base snapshot.
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const source = await client.volumes.create({ slug: `src-${process.pid}`, region: "ord", capacity: "300MB" });
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data": source.slug } });
  await sandbox.sh`echo v1 > /data/version && sync`;
}
const snapshot = await client.volumes.snapshot(source.id, { slug: `golden-${process.pid}` });
const fork = await client.volumes.create({ slug: `fork-${process.pid}`, region: "ord", capacity: "300MB", from: snapshot.slug });
assert.deepEqual(fork.baseSnapshot, { id: snapshot.id, slug: snapshot.slug });
assert.equal(source.baseSnapshot, null);
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data": fork.slug } });
  assert.equal(await sandbox.sh`cat /data/version`.text(), "v1\n");
  await sandbox.sh`echo v2 > /data/version`;
}
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/src": source.slug, "/fork": fork.id } });
  assert.equal(await sandbox.sh`cat /src/version /fork/version`.text(), "v1\nv2\n");
}
await client.volumes.delete(fork.slug);
await client.snapshots.delete(snapshot.id);
await client.volumes.delete(source.slug);
