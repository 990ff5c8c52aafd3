// Deno docs (volumes): create with slug, region and capacity; mount as a record; data persists
// across sandboxes; get, list, delete. The sandboxes are killed (not only closed) before the
// delete: a closed session sandbox stops a moment after its connection (docs/deno-compatibility.md).
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const volume = await client.volumes.create({ slug: `corpus-${process.pid}`, region: "ord", capacity: "300MB" });
try {
  assert.ok(volume.capacity >= 300_000_000, String(volume.capacity));
  const writer = await Sandbox.create({ region: "ord", volumes: { "/data/cache": volume.slug } });
  await writer.sh`echo persisted > /data/cache/x`;
  await writer.kill();
  const reader = await Sandbox.create({ region: "ord", volumes: { "/data/cache": volume.id } });
  assert.equal(await reader.sh`cat /data/cache/x`.text(), "persisted\n");
  await reader.kill();
  assert.equal((await client.volumes.get(volume.slug))?.id, volume.id);
  const listed = await client.volumes.list();
  assert.ok(listed.items.some((v) => v.slug === volume.slug));
} finally {
  await client.volumes.delete(volume.slug);
}
assert.equal(await client.volumes.get(volume.slug), null);
