/**
 * Volume snapshots through the SDK on a real daemon (issue 14, docs/snapshots.md): taken while a
 * sandbox writes, fsck-clean, holding what was synced; listed, found, deleted; independent of
 * their volume; and a daemon killed with a volume frozen thaws it when it starts again.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { Client } from "atoll";
import Database from "better-sqlite3";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const snapshotImage = (id: string) => path.join(ctx.daemon.stateDir, "run", "cow-pool", "snapshots", `${id}.img`);

/** sha256 of a file inside an ext4 image, read from a read-only mount that replays nothing. */
function sha256InImage(image: string, relPath: string): string {
  const at = mkdtempSync("/var/tmp/atoll-snap-look-");
  execFileSync("mount", ["-t", "ext4", "-o", "loop,ro,noload", image, at]);
  try {
    return createHash("sha256")
      .update(readFileSync(path.join(at, relPath)))
      .digest("hex");
  } finally {
    execFileSync("umount", [at]);
    rmSync(at, { recursive: true, force: true });
  }
}

test("a snapshot of a volume a sandbox is writing holds what was synced, is fsck-clean, and the writer goes on", async () => {
  const { client } = ctx;
  const volume = await client.createVolume({ name: "busy", sizeGb: 1 });
  await using sb = await client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/data" }] });
  await sb.sh`head -c 20000000 /dev/urandom > /data/synced && sync /data/synced`;
  const sum = (await sb.sh`sha256sum /data/synced | cut -d' ' -f1`.text()).trimEnd();
  await sb.spawn("sh", { args: ["-c", "while :; do head -c 1000000 /dev/urandom >> /data/stream; sync /data/stream; done"], stdout: "null" });
  await new Promise((r) => setTimeout(r, 200));

  const snap = await volume.snapshot({ name: "busy-1" });
  assert.equal(snap.volumeId, volume.id);
  assert.equal(snap.bootable, false);
  await sb.sh`echo after > /data/after && sync /data/after`; // not left frozen
  assert.equal(spawnSync("e2fsck", ["-fn", snapshotImage(snap.id)]).status, 0, "the snapshot is fsck-clean");
  assert.equal(sha256InImage(snapshotImage(snap.id), "synced"), sum);

  assert.ok((await client.listSnapshots()).some((s) => s.id === snap.id));
  assert.equal((await client.getSnapshot("busy-1")).id, snap.id);
  await expectCode(volume.snapshot({ name: "busy-1" }), "SNAPSHOT_NAME_TAKEN");
  await sb.kill();

  // Independent of its volume: it keeps the data, and now holds it alone.
  await client.deleteVolume(volume.id);
  const alone = await client.getSnapshot(snap.id);
  assert.ok(alone.allocatedBytes >= 20_000_000, `after its volume's delete the snapshot holds ${alone.allocatedBytes} bytes alone`);
  assert.equal(sha256InImage(snapshotImage(snap.id), "synced"), sum);
  await alone.delete();
  await expectCode(client.getSnapshot(snap.id), "SNAPSHOT_NOT_FOUND");
  assert.equal(spawnSync("stat", [snapshotImage(snap.id)]).status, 1, "its image is gone");
});

test("a fork starts as the snapshot, grows to its size, writes alone; restore rolls a volume back", async () => {
  const { client } = ctx;
  const volume = await client.createVolume({ name: "source", sizeGb: 0.5 });
  const sb = await client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/s" }] });
  await sb.sh`head -c 30000000 /dev/urandom > /s/seed && echo good > /s/state && sync`;
  const sum = (await sb.sh`sha256sum /s/seed | cut -d' ' -f1`.text()).trimEnd();
  const snap = await volume.snapshot({ name: "seeded" });
  await sb.sh`echo broken > /s/state && sync`;

  const fork = await client.createVolume({ name: "fork", sizeGb: 1, from: "seeded" });
  assert.equal(fork.capacityBytes, 2 ** 30);
  // A fork counts what it wrote, not the 30 MB it shares with its snapshot; its source keeps them.
  const source = await volume.refresh();
  assert.ok(source.usedBytes >= 30_000_000, `source uses ${source.usedBytes}`);
  assert.ok(fork.usedBytes < 10_000_000, `a fresh fork uses ${fork.usedBytes}`);
  await using f = await client.createSandbox({ volumes: [{ id: fork.id, mountPath: "/f" }] });
  assert.equal((await f.sh`sha256sum /f/seed | cut -d' ' -f1`.text()).trimEnd(), sum);
  assert.equal((await f.sh`cat /f/state`.text()).trimEnd(), "good");
  const size = Number(await f.sh`df -B1 --output=size /f | tail -1`.text());
  assert.ok(size > 0.9 * 2 ** 30, `the fork's filesystem was grown: ${size} bytes`);
  await f.sh`echo fork-only > /f/mine && head -c 20000000 /dev/urandom > /f/new && sync`;
  const grown = await fork.refresh();
  assert.ok(grown.usedBytes >= fork.usedBytes + 19_000_000, `the fork's writes count: ${fork.usedBytes} → ${grown.usedBytes}`);
  assert.equal((await sb.sh`test -e /s/mine && echo yes || echo no`.text()).trimEnd(), "no", "the source does not see the fork's writes");
  await f.kill();

  await expectCode(client.createVolume({ name: "too-small", sizeGb: 0.25, from: snap.id }), "INVALID_ARGUMENT");
  await expectCode(volume.restore(snap.id), "VOLUME_IN_USE");
  await sb.kill();
  await volume.restore("seeded");
  await using r = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/s" }] });
  assert.equal((await r.sh`cat /s/state`.text()).trimEnd(), "good", "rolled back");
  await r.kill();
  for (const v of [fork.id, volume.id]) await client.deleteVolume(v);
  await client.deleteSnapshot(snap.id);
});

test("bad input changes nothing: unknown volume, bad name", async () => {
  const { client } = ctx;
  const before = (await client.listSnapshots()).length;
  await expectCode(
    Promise.resolve().then(() => new Client({ url: ctx.daemon.url, token: ctx.daemon.token }).getSnapshot("snap_nope")),
    "SNAPSHOT_NOT_FOUND",
  );
  const volume = await client.createVolume({ name: "bad-input", sizeGb: 0.25 });
  await expectCode(volume.snapshot({ name: "Not Valid" }), "INVALID_ARGUMENT");
  await volume.delete();
  await expectCode(volume.snapshot({ name: "of-a-deleted-volume" }), "VOLUME_NOT_FOUND");
  await expectCode(client.deleteSnapshot("snap_nope"), "SNAPSHOT_NOT_FOUND");
  assert.equal((await client.listSnapshots()).length, before);
});

test("snapshots survive a restart; a daemon killed with a volume frozen thaws it when it starts again", async () => {
  let client = ctx.client;
  const volume = await client.createVolume({ name: "frozen", sizeGb: 0.25 });
  const snap = await volume.snapshot({ name: "kept" });
  const sb = await client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/f" }] });
  await sb.sh`echo before > /f/before && sync /f/before`;
  // What kill -9 between freeze and thaw leaves: the volume's one host mount frozen.
  execFileSync("fsfreeze", ["--freeze", path.join(ctx.daemon.stateDir, "run", "volumes", volume.id)]);
  await ctx.daemon.crash();
  // …and of a snapshot being made: its row still "creating", its image still a `.part` clone.
  const db = new Database(path.join(ctx.daemon.stateDir, "atoll.db"));
  db.prepare(
    "INSERT INTO snapshots (id, tenant, name, volume_id, volume_name, size_gb, capacity_bytes, state, created_at) VALUES (?, 'default', 'half-made', ?, 'frozen', 0.25, ?, 'creating', ?)",
  ).run("snap_halfmade", volume.id, 2 ** 28, new Date().toISOString());
  db.close();
  const part = `${snapshotImage("snap_halfmade")}.part`;
  execFileSync("cp", ["--reflink=always", snapshotImage(snap.id), part]);
  ctx.daemon = await ctx.daemon.restart();
  client = ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  // The sandbox writing to it was adopted (live restore): the volume must be thawed under it.
  const adopted = await client.connectSandbox(sb.id);
  await adopted.sh`echo thawed > /f/thawed && sync /f/thawed`.timeout(30_000);
  await adopted.kill();

  assert.equal((await client.getSnapshot("kept")).id, snap.id);
  assert.deepEqual(
    (await client.listSnapshots()).map((s) => s.name).filter((n) => n === "half-made"),
    [],
    "no half-made snapshot is listed",
  );
  await expectCode(client.getSnapshot("snap_halfmade"), "SNAPSHOT_NOT_FOUND");
  assert.equal(existsSync(part), false, "its half-made image is gone");
  await using again = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/f" }] });
  assert.equal((await again.sh`cat /f/before`.text()).trimEnd(), "before");
  await again.sh`echo writable > /f/after && sync /f/after`;
  await again.kill();
  await client.deleteSnapshot(snap.id);
  await client.deleteVolume(volume.id);
});
