/**
 * Snapshots and the copy-on-write pool against the real host (root: XFS pool on a loop file,
 * ext4 volumes on loop devices, fsfreeze, FICLONE). Run: node --test packages/server/dist/storage/snapshot.itest.js
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { createExt4Image } from "../host/ext4-image.js";
import { findLoopDevicesUnder } from "../host/loop-device.js";
import { ensurePrivateMount, mountsUnder, readMountInfo, statfsUsage, umountTree } from "../host/mounts.js";
import { execFileRunner as runner } from "../host/run-command.js";
import { POOL_FILE } from "./cow-pool.js";
import { LoopVolumeBackend, type StorageLogger } from "./loop-volume-backend.js";

const MiB = 2 ** 20;
let base = "";
const logged: string[] = [];
const logger: StorageLogger = { info: () => undefined, warn: (_o, msg) => logged.push(msg ?? ""), error: (_o, msg) => logged.push(msg ?? "") };

/** A backend in a state directory of its own. */
async function newHost(): Promise<{ backend: LoopVolumeBackend; stateDir: string; runDir: string }> {
  const stateDir = await mkdtemp(path.join(base, "state-"));
  const runDir = path.join(stateDir, "run");
  await ensurePrivateMount(runner, runDir);
  return { backend: new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, logger }), stateDir, runDir };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(6).toString("hex")}`;

async function writeSynced(file: string, data: Uint8Array): Promise<void> {
  const handle = await open(file, "w");
  try {
    await handle.write(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Exit code of `e2fsck -fn` (0: clean, nothing to fix). */
async function fsckCode(image: string): Promise<number | null> {
  return runner.run("e2fsck", ["-fn", image]).then(
    () => 0,
    (e: { exitCode: number | null }) => e.exitCode,
  );
}

/** Reads a file of an ext4 image mounted read-only, without replaying anything (`ro,noload`). */
async function readFromImage(image: string, relPath: string): Promise<Buffer> {
  const at = await mkdtemp(path.join(base, "look-"));
  await runner.run("mount", ["-t", "ext4", "-o", "loop,ro,noload", image, at]);
  try {
    return await readFile(path.join(at, relPath));
  } finally {
    await runner.run("umount", [at]);
  }
}

before(async () => {
  base = await mkdtemp("/var/tmp/atoll-snapshot-itest-");
});

after(async () => {
  for (const loop of await findLoopDevicesUnder(base)) await runner.run("losetup", ["--detach", loop.device]).catch(() => undefined);
  await umountTree(runner, base).catch(() => undefined);
  const leftMounts = mountsUnder(await readMountInfo(), base);
  await rm(base, { recursive: true, force: true });
  assert.deepEqual(leftMounts, [], "no mount under the temp dir remains");
});

test("the pool is a sparse XFS file as large as the host filesystem, and its promised blocks count as growth", async () => {
  const { backend, stateDir } = await newHost();
  const cow = await backend.pool();
  assert.equal(cow.kind, "pool", "this host's state directory (ext4) does not clone");
  const file = path.join(stateDir, POOL_FILE);
  const st = await stat(file);
  const host = await statfsUsage(stateDir);
  assert.ok(st.size > host.totalBytes - 2 * MiB && st.size <= host.totalBytes, `pool ${st.size} vs host ${host.totalBytes}`);
  assert.ok(st.blocks * 512 < 512 * MiB, `the pool file is sparse: ${st.blocks * 512} bytes on the host`);
  const before = await cow.growthBytes();
  const id = newId("vol");
  await backend.create(id, 256 * MiB);
  const promised = await cow.growthBytes();
  assert.ok(promised - before >= 200 * MiB, `a 256 MiB volume is promised: ${before} → ${promised}`);
  await backend.delete(id);
  const after = await cow.growthBytes();
  assert.ok(after < promised - 200 * MiB, `deleting it takes the promise back: ${promised} → ${after}`);
});

test("an existing pool smaller than the host filesystem is grown online when opened", async () => {
  const stateDir = await mkdtemp(path.join(base, "state-"));
  const runDir = path.join(stateDir, "run");
  await ensurePrivateMount(runner, runDir);
  const file = path.join(stateDir, POOL_FILE);
  await writeFile(file, "");
  const handle = await open(file, "r+");
  await handle.truncate(1024 * MiB);
  await handle.close();
  await runner.run("mkfs.xfs", ["-q", "-K", "-m", "reflink=1", "-s", "size=512", file]);
  const backend = new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, logger });
  const cow = await backend.pool();
  const host = await statfsUsage(stateDir);
  const pool = await statfsUsage(path.dirname(cow.volumesDir));
  assert.ok(pool.totalBytes > host.totalBytes / 2, `the pool's filesystem grew: ${pool.totalBytes} bytes`);
});

test("a snapshot of a volume being written is fsck-clean, holds what was synced before, and leaves the volume writable", async () => {
  const { backend } = await newHost();
  const id = newId("vol");
  const snap = newId("snap");
  await backend.create(id, 512 * MiB);
  const at = await backend.acquire(id);
  try {
    const before = randomBytes(8 * MiB);
    await writeSynced(path.join(at, "before.bin"), before);
    // A writer that keeps appending (and syncing) while the snapshot is taken.
    let writing = true;
    const writer = (async () => {
      const handle = await open(path.join(at, "during.bin"), "w");
      try {
        for (let i = 0; writing && i < 2000; i++) {
          await handle.write(randomBytes(64 * 1024));
          if (i % 8 === 0) await handle.sync();
        }
      } finally {
        await handle.close();
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    await backend.snapshot(id, snap);
    writing = false;
    await writer;
    await writeSynced(path.join(at, "after.txt"), Buffer.from("the volume is not frozen"));
    const image = path.join((await backend.pool()).snapshotsDir, `${snap}.img`);
    assert.equal(await fsckCode(image), 0, "the snapshot is clean");
    assert.deepEqual(await readFromImage(image, "before.bin"), before);
    await assert.rejects(readFromImage(image, "after.txt"), { code: "ENOENT" });
    assert.equal((await stat(image)).mode & 0o777, 0o400, "snapshot images are read-only");
  } finally {
    await backend.release(id);
  }
  await backend.delete(id);
  await backend.deleteSnapshot(snap);
});

test("a volume made before the pool keeps working where it is and is snapshotted by a full copy, logged", async () => {
  const { backend, stateDir } = await newHost();
  const id = newId("vol");
  const legacyDir = path.join(stateDir, "volumes");
  await mkdir(legacyDir, { recursive: true });
  await createExt4Image(runner, path.join(legacyDir, `${id}.img`), 64 * MiB, { rootOwner: { uid: 101000, gid: 101000 } });
  await backend.pool();
  assert.equal(backend.imagePath(id), path.join(legacyDir, `${id}.img`));
  const at = await backend.acquire(id);
  await writeSynced(path.join(at, "old.txt"), Buffer.from("from the last release"));
  const snap = newId("snap");
  logged.length = 0;
  await backend.snapshot(id, snap);
  assert.ok(
    logged.some((m) => /copied in full/.test(m)),
    logged.join("; "),
  );
  await backend.release(id);
  const image = path.join((await backend.pool()).snapshotsDir, `${snap}.img`);
  assert.equal(await fsckCode(image), 0);
  assert.equal((await readFromImage(image, "old.txt")).toString(), "from the last release");
  await backend.delete(id);
  await backend.deleteSnapshot(snap);
});

test("reconcile after a daemon killed mid-snapshot: the frozen volume is thawed, the half-made snapshot removed", async () => {
  const { backend: crashed, stateDir, runDir } = await newHost();
  const id = newId("vol");
  await crashed.create(id, 256 * MiB);
  const at = await crashed.acquire(id);
  await writeSynced(path.join(at, "data.txt"), Buffer.from("kept"));
  const cow = await crashed.pool();
  // What a kill -9 between freeze and rename leaves: a frozen mount and a `.part` clone.
  await runner.run("fsfreeze", ["--freeze", at]);
  const part = path.join(cow.snapshotsDir, `${newId("snap")}.img.part`);
  await runner.run("cp", ["--reflink=always", crashed.imagePath(id), part]);
  const unknown = path.join(cow.snapshotsDir, `${newId("snap")}.img`);
  await rename(part, unknown); // a finished image the store never recorded
  await runner.run("cp", ["--reflink=always", crashed.imagePath(id), part]);

  const fresh = new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, logger });
  logged.length = 0;
  await fresh.reconcile(new Set([id]), new Map(), new Set());
  assert.ok(logged.includes("thawed a volume left frozen"), logged.join("; "));
  await assert.rejects(stat(part), { code: "ENOENT" });
  await assert.rejects(stat(unknown), { code: "ENOENT" });
  const again = await fresh.acquire(id);
  assert.equal((await readFile(path.join(again, "data.txt"))).toString(), "kept");
  await writeSynced(path.join(again, "more.txt"), Buffer.from("writable"));
  await fresh.release(id);
  await fresh.delete(id);
});

test("without the pool's tools, images are plain files: snapshots, forks and restores copy them in full, and work", async () => {
  const stateDir = await mkdtemp(path.join(base, "state-"));
  const runDir = path.join(stateDir, "run");
  await ensurePrivateMount(runner, runDir);
  const backend = new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, logger, noPool: true });
  logged.length = 0;
  const cow = await backend.pool();
  assert.equal(cow.kind, "plain");
  assert.ok(
    logged.some((m) => /no copy-on-write pool/.test(m)),
    logged.join("; "),
  );
  const id = newId("vol");
  await backend.create(id, 64 * MiB);
  assert.equal(backend.imagePath(id), path.join(stateDir, "volumes", `${id}.img`));
  const at = await backend.acquire(id);
  await writeSynced(path.join(at, "plain.txt"), Buffer.from("copied"));
  const snap = newId("snap");
  await backend.snapshot(id, snap);
  await writeSynced(path.join(at, "plain.txt"), Buffer.from("changed"));
  await backend.release(id);
  const fork = newId("vol");
  await backend.createFrom(fork, snap, 128 * MiB);
  const forkAt = await backend.acquire(fork);
  assert.equal((await readFile(path.join(forkAt, "plain.txt"))).toString(), "copied");
  await backend.release(fork);
  await backend.restore(id, snap);
  const back = await backend.acquire(id);
  assert.equal((await readFile(path.join(back, "plain.txt"))).toString(), "copied");
  await backend.release(id);
  for (const v of [id, fork]) await backend.delete(v);
  await backend.deleteSnapshot(snap);
});
