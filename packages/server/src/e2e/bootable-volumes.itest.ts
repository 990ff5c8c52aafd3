/**
 * Bootable volumes and `root` through the SDK on a real daemon (issue 14, docs/snapshots.md
 * "Bootable volumes"): the "make your own image" workflow (boot a volume made from the builtin
 * image, change it, snapshot it, boot many sandboxes from the snapshot), exclusivity of a
 * read-write root, refusals that change nothing, and live restore of booted sandboxes after
 * `kill -9` of the daemon.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "atoll";
import { expectCode, hostFootprint, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

test("make your own image: boot a builtin volume, change it, snapshot it, start many from the snapshot", async () => {
  const { client } = ctx;
  const image = await client.createVolume({ name: "my-image", sizeGb: 1, from: "builtin:debian-12" });
  assert.equal(image.bootable, true);
  {
    await using sb = await client.createSandbox({ root: image.id });
    assert.match(await sb.sh`cat /etc/debian_version`.text(), /^12\./);
    assert.equal((await sb.sh`id -un`.text()).trimEnd(), "app", "commands run as app, as in the default image");
    // What `apt-get install` would do, without a network: files under /usr and /etc, as root.
    await sb.sh`printf '#!/bin/sh\necho tool v1\n' > /usr/local/bin/tool && chmod 755 /usr/local/bin/tool && echo configured > /etc/tool.conf`.sudo();
    await expectCode(client.createSandbox({ root: image.id }), "VOLUME_IN_USE");
    await expectCode(client.createSandbox({ volumes: [{ id: image.id, mountPath: "/m", accessMode: "ro" }] }), "VOLUME_IN_USE");
  }
  {
    await using again = await client.createSandbox({ root: "my-image" });
    assert.equal((await again.sh`tool`.text()).trimEnd(), "tool v1", "what the sandbox installed stayed in the volume");
  }
  const snap = await image.snapshot({ name: "my-image-v1" });
  assert.equal(snap.bootable, true);
  await using a = await client.createSandbox({ timeout: "5m", root: snap.id });
  await using b = await client.createSandbox({ timeout: "5m", root: "my-image-v1" });
  for (const sb of [a, b]) assert.equal((await sb.sh`tool && cat /etc/tool.conf`.text()).trimEnd(), "tool v1\nconfigured");
  await a.sh`echo only-a > /etc/scratch-of-a`.sudo();
  assert.equal((await b.sh`test -e /etc/scratch-of-a; echo $?`.text()).trimEnd(), "1", "a snapshot root's writes stay in that sandbox");
  await expectCode(client.deleteSnapshot(snap.id), "SNAPSHOT_IN_USE");
  await a.kill();
  await b.kill();
  {
    await using c = await client.createSandbox({ root: snap.id });
    assert.equal((await c.sh`test -e /etc/scratch-of-a; echo $?`.text()).trimEnd(), "1", "discarded at the end");
  }
  const plain = await client.createVolume({ name: "not-bootable", sizeGb: 0.25 });
  await expectCode(client.createSandbox({ root: plain.id }), "INVALID_ARGUMENT");
  await expectCode(client.createSandbox({ root: "no-such-image" }), "VOLUME_NOT_FOUND");
  await expectCode(client.createVolume({ name: "too-small", sizeGb: 0.25, from: "builtin:debian-12" }), "INVALID_ARGUMENT");
  await expectCode(client.getVolume("too-small"), "VOLUME_NOT_FOUND");
  await client.deleteSnapshot(snap.id);
  await client.deleteVolume(image.id);
  await client.deleteVolume(plain.id);
});

test("sandboxes booted from a volume and from a snapshot are adopted after kill -9 and keep their roots", async () => {
  let client = ctx.client;
  const image = await client.createVolume({ name: "restore-image", sizeGb: 1, from: "builtin:debian-12" });
  const snap = await image.snapshot({ name: "restore-image-v1" });
  const rw = await client.createSandbox({ timeout: "5m", root: image.id });
  const ro = await client.createSandbox({ timeout: "5m", root: snap.id });
  await rw.sh`echo before > /etc/marker`.sudo();
  await ro.sh`echo scratch > /etc/marker`.sudo();
  await ctx.daemon.crash();
  ctx.daemon = await ctx.daemon.restart();
  client = ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  const rw2 = await client.connectSandbox(rw.id);
  const ro2 = await client.connectSandbox(ro.id);
  assert.equal((await rw2.sh`cat /etc/marker`.text()).trimEnd(), "before");
  assert.equal((await ro2.sh`cat /etc/marker`.text()).trimEnd(), "scratch");
  await rw2.sh`echo after > /etc/marker`.sudo();
  assert.deepEqual(
    (await client.getSandbox(rw.id)).volumes.map((v) => [v.volumeId, v.mountPath, v.accessMode]),
    [[image.id, "/", "rw"]],
  );
  await expectCode(client.createSandbox({ root: image.id }), "VOLUME_IN_USE");
  await expectCode(client.deleteSnapshot(snap.id), "SNAPSHOT_IN_USE");
  await rw2.kill();
  await ro2.kill();
  {
    await using back = await client.createSandbox({ root: image.id });
    assert.equal((await back.sh`cat /etc/marker`.text()).trimEnd(), "after", "writes after the adoption stayed in the volume");
  }
  await client.deleteSnapshot(snap.id);
  await client.deleteVolume(image.id);
  assert.deepEqual(hostFootprint(ctx.daemon.stateDir), { loops: [], mounts: [] }, "nothing of the booted sandboxes is left");
});
