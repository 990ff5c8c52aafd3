/**
 * A snapshot mounted read-only in sandboxes, through the SDK on a real daemon (issue 14,
 * docs/snapshots.md): any number of sandboxes read it at once, sandbox root cannot write to it
 * nor remount it, "rw" is refused, it cannot be deleted while mounted, and a sandbox adopted after
 * `kill -9` of the daemon keeps it mounted (and the delete refused) until it ends.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "atoll";
import { expectCode, hostFootprint, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

test("a snapshot mounts read-only in several sandboxes, survives a daemon crash mounted, and is deletable once they end", async () => {
  let client = ctx.client;
  const volume = await client.createVolume({ name: "golden-src", sizeGb: 0.25 });
  {
    await using seed = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/v" }] });
    await seed.sh`echo golden > /v/file && sync /v/file`;
  }
  const snap = await volume.snapshot({ name: "golden" });
  await using a = await client.createSandbox({ timeout: "5m", volumes: [{ id: snap.id, mountPath: "/g", accessMode: "ro" }] });
  await using b = await client.createSandbox({ timeout: "5m", volumes: [{ id: "golden", mountPath: "/g", accessMode: "ro" }] });
  for (const sb of [a, b]) assert.equal((await sb.sh`cat /g/file`.text()).trimEnd(), "golden");
  assert.deepEqual(
    (await client.getSandbox(a.id)).volumes.map((v) => [v.volumeId, v.volumeName, v.accessMode]),
    [[snap.id, "golden", "ro"]],
  );
  // Sandbox root can neither write nor remount it (the probe works on the volume's own rw mount above).
  assert.match(await a.sh`touch /g/new 2>&1; echo rc=$?`.sudo().noThrow().text(), /Read-only file system/);
  assert.match(await a.sh`mount -o remount,rw /g 2>&1; echo rc=$?`.sudo().noThrow().text(), /rc=[1-9]/);
  assert.equal((await a.sh`test -e /g/new; echo $?`.text()).trimEnd(), "1");

  await expectCode(client.createSandbox({ volumes: [{ id: snap.id, mountPath: "/g", accessMode: "rw" }] }), "INVALID_ARGUMENT");
  await expectCode(client.deleteSnapshot(snap.id), "SNAPSHOT_IN_USE");

  await ctx.daemon.crash();
  ctx.daemon = await ctx.daemon.restart();
  client = ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  const adopted = await client.connectSandbox(a.id);
  assert.equal((await adopted.sh`cat /g/file`.text()).trimEnd(), "golden", "the adopted sandbox still has the snapshot");
  await expectCode(client.deleteSnapshot("golden"), "SNAPSHOT_IN_USE");
  await adopted.kill();
  await client.killSandbox(b.id);
  await client.deleteSnapshot("golden");
  await client.deleteVolume(volume.id);
  assert.deepEqual(hostFootprint(ctx.daemon.stateDir), { loops: [], mounts: [] }, "nothing of the snapshot's mount is left");
});
