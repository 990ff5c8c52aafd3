// Deno docs (snapshots): snapshot a volume by slug, then get, list (with search) and delete the
// snapshot; it names the volume it was taken of, and get resolves to null once it is deleted.
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const volume = await client.volumes.create({ slug: `snapvol-${process.pid}`, region: "ord", capacity: "300MB" });
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data": volume.slug } });
  await sandbox.sh`echo saved > /data/state.txt && sync`;
}
const snapshot = await client.volumes.snapshot(volume.slug, { slug: `snap-${process.pid}` });
assert.equal(snapshot.slug, `snap-${process.pid}`);
assert.deepEqual(snapshot.volume, { id: volume.id, slug: volume.slug });
assert.equal(snapshot.isBootable, false);
assert.equal(typeof snapshot.region, "string");
assert.ok(snapshot.allocatedSize >= 0 && snapshot.flattenedSize >= snapshot.allocatedSize, `${snapshot.allocatedSize} ${snapshot.flattenedSize}`);

const got = await client.snapshots.get(snapshot.slug);
assert.equal(got?.id, snapshot.id);
assert.equal((await client.snapshots.get(snapshot.id))?.slug, snapshot.slug);
const listed = await client.snapshots.list({ search: `snap-${process.pid}` });
assert.deepEqual(
  listed.items.map((s) => s.id),
  [snapshot.id],
);
const all = [];
for await (const s of await client.snapshots.list()) all.push(s.id);
assert.ok(all.includes(snapshot.id));

await client.snapshots.delete(snapshot.slug);
assert.equal(await client.snapshots.get(snapshot.slug), null);
await client.volumes.delete(volume.slug);
