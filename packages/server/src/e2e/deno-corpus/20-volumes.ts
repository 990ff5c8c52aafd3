// Deno docs (volumes): create with slug, region and capacity; mount as a record; data persists
// across sandboxes; get, list, delete (right after the sandboxes that held it closed).
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const volume = await client.volumes.create({ slug: `corpus-${process.pid}`, region: "ord", capacity: "300MB" });
assert.ok(volume.capacity >= 300_000_000, String(volume.capacity));
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data/cache": volume.slug } });
  await sandbox.sh`echo persisted > /data/cache/x`;
}
{
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data/cache": volume.id } });
  assert.equal(await sandbox.sh`cat /data/cache/x`.text(), "persisted\n");
}
assert.equal((await client.volumes.get(volume.slug))?.id, volume.id);
const listed = await client.volumes.list();
assert.ok(listed.items.some((v) => v.slug === volume.slug));
await client.volumes.delete(volume.slug);
assert.equal(await client.volumes.get(volume.slug), null);
