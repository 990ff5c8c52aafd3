/**
 * Integration tests of LoopVolumeBackend against the real host (root, losetup, mkfs.ext4,
 * mount). Run: node --test packages/server/dist/storage/loop-volume-backend.itest.js
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { fsckExt4, readExt4Superblock } from "../host/ext4-image.js";
import { inodeCountFor } from "../host/inode-sizing.js";
import { findLoopDevicesForFile, findLoopDevicesUnder } from "../host/loop-device.js";
import { ensurePrivateMount, mountsUnder, readMountInfo, umountTree } from "../host/mounts.js";
import { AtollError } from "atoll/contract";
import { execFileRunner as runner } from "../host/run-command.js";
import { LoopVolumeBackend, type StorageLogger } from "./loop-volume-backend.js";
import { VolumeAcquiredError, VolumeBackingMissingError } from "./storage-errors.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const UID_BASE = 100000;

let base = "";
let stateDir = "";
let runDir = "";
const logged: { level: string; msg: string | undefined }[] = [];
const logger: StorageLogger = {
  info: (_o, msg) => logged.push({ level: "info", msg }),
  warn: (_o, msg) => logged.push({ level: "warn", msg }),
  error: (_o, msg) => logged.push({ level: "error", msg }),
};

function newBackend(): LoopVolumeBackend {
  return new LoopVolumeBackend({ stateDir, runDir, uidBase: UID_BASE, runner, logger });
}

function newId(): string {
  return `vol_${randomBytes(6).toString("hex")}`;
}

/** Bytes the file really occupies on disk. */
async function allocatedBytes(file: string): Promise<number> {
  return (await stat(file)).blocks * 512;
}

async function mountsAt(p: string): Promise<number> {
  return (await readMountInfo()).filter((e) => e.mountPoint === p).length;
}

/** Writes `data` to a new file and fsyncs it. */
async function writeSynced(file: string, data: Uint8Array): Promise<void> {
  const handle = await open(file, "wx");
  try {
    await handle.write(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Releases every reference and deletes the volume, whatever state it is in. */
async function destroy(backend: LoopVolumeBackend, id: string): Promise<void> {
  while (backend.references(id) > 0) await backend.release(id);
  await backend.delete(id);
}

before(async () => {
  base = await mkdtemp("/var/tmp/atoll-volume-itest-");
  stateDir = path.join(base, "state");
  runDir = path.join(stateDir, "run");
  await ensurePrivateMount(runner, runDir);
});

after(async () => {
  // Safety net: whatever a failed test left behind goes here. Volumes' loop devices first: their
  // images live in the pool mounted under base, and would lose their names with it.
  for (const loop of await findLoopDevicesUnder(base)) {
    await runner.run("losetup", ["--detach", loop.device]).catch(() => undefined);
  }
  await umountTree(runner, base).catch(() => undefined);
  for (const loop of await findLoopDevicesUnder(base)) {
    await runner.run("losetup", ["--detach", loop.device]).catch(() => undefined);
  }
  const leftMounts = mountsUnder(await readMountInfo(), base);
  const leftLoops = await findLoopDevicesUnder(base);
  await rm(base, { recursive: true, force: true });
  assert.deepEqual(leftMounts, [], "no mount under the temp dir remains");
  assert.deepEqual(leftLoops, [], "no loop device backed by the temp dir remains");
});

/** Block groups whose inode table is not zeroed yet: the kernel zeroes those after mounting (punching holes through the loop device). */
async function groupsLeftToZero(image: string): Promise<number> {
  const { stdout } = await runner.run("dumpe2fs", [image]);
  return stdout.split("\n").filter((l) => /^Group \d+:/.test(l) && !l.includes("ITABLE_ZEROED")).length;
}

test("1 GiB and 20 GiB volumes are allocated in full (never EIO for lack of host space), owned by app, and usage agrees mounted and unmounted", async () => {
  const backend = newBackend();
  const ids = [newId(), newId()];
  try {
    await backend.create(ids[0]!, 1 * GiB);
    await backend.create(ids[1]!, 20 * GiB);
    for (const [i, size] of [1 * GiB, 20 * GiB].entries()) {
      const id = ids[i]!;
      const image = backend.imagePath(id);
      assert.equal((await stat(image)).size, size);
      assert.ok((await allocatedBytes(image)) >= size, `image of ${size} bytes is allocated in full`);
      // Zeroed by mkfs (fallocate ZERO_RANGE, keeping the allocation), so the kernel has nothing left to zero.
      assert.equal(await groupsLeftToZero(image), 0, "every inode table is zeroed at mkfs");
      const idle = await backend.usage(id);
      assert.equal(idle.capacityBytes, size);
      // Inodes for many small files (inode-sizing.ts); mkfs rounds the count up to whole block groups.
      assert.ok(idle.inodeCapacity >= inodeCountFor(size) && idle.inodeCapacity < inodeCountFor(size) * 1.001, `${idle.inodeCapacity} inodes`);
      assert.equal(idle.usedInodes, 11, "ext4's reserved inodes, lost+found among them");
      const dir = await backend.acquire(id);
      try {
        const st = await stat(dir);
        assert.equal(st.uid, UID_BASE + 1000);
        assert.equal(st.gid, UID_BASE + 1000);
        assert.equal(st.mode & 0o7777, 0o755);
        const lf = await stat(path.join(dir, "lost+found"));
        assert.deepEqual([lf.uid, lf.gid], [UID_BASE + 1000, UID_BASE + 1000], "lost+found belongs to app like the root");
        const live = await backend.usage(id);
        assert.deepEqual(live, idle, "usage from the image equals statfs of the mount");
        const opts = (await readMountInfo()).find((e) => e.mountPoint === dir)!.mountOptions;
        for (const o of ["noatime", "nosuid", "nodev"]) assert.ok(opts.includes(o), `mounted with ${o}`);
      } finally {
        await backend.release(id);
      }
      assert.ok((await allocatedBytes(image)) >= size, `still allocated in full after a mount`);
    }
  } finally {
    for (const id of ids) await destroy(backend, id).catch(() => undefined);
  }
});

test("acquire twice → one mount and one loop device; release twice → gone", async () => {
  const backend = newBackend();
  const id = newId();
  await backend.create(id, 256 * MiB);
  const image = backend.imagePath(id);
  try {
    const a = await backend.acquire(id);
    const b = await backend.acquire(id);
    assert.equal(a, b);
    assert.equal(a, backend.mountPath(id));
    assert.equal(await mountsAt(a), 1);
    assert.equal((await findLoopDevicesForFile(image)).length, 1);
    await backend.release(id);
    assert.equal(await mountsAt(a), 1, "still mounted with one reference left");
    await backend.release(id);
    assert.equal(await mountsAt(a), 0);
    assert.equal((await findLoopDevicesForFile(image)).length, 0);

    // Concurrent acquires and releases of one volume are serialised.
    const paths = await Promise.all(Array.from({ length: 6 }, () => backend.acquire(id)));
    assert.equal(new Set(paths).size, 1);
    assert.equal(await mountsAt(a), 1);
    assert.equal((await findLoopDevicesForFile(image)).length, 1);
    assert.equal(backend.references(id), 6);
    await Promise.all(Array.from({ length: 6 }, () => backend.release(id)));
    assert.equal(await mountsAt(a), 0);
    assert.equal((await findLoopDevicesForFile(image)).length, 0);
  } finally {
    await destroy(backend, id);
  }
});

test("writes move usage, writing past capacity fails with ENOSPC, delete frees the space", async () => {
  const backend = newBackend();
  const id = newId();
  await backend.create(id, 64 * MiB);
  const image = backend.imagePath(id);
  try {
    const dir = await backend.acquire(id);
    const before = await backend.usage(id);
    await writeSynced(path.join(dir, "ten"), randomBytes(10 * MiB));
    const afterWrite = await backend.usage(id);
    assert.ok(afterWrite.usedBytes >= before.usedBytes + 10 * MiB, "usage grew by the written bytes");

    const handle = await open(path.join(dir, "fill"), "wx");
    let failure: NodeJS.ErrnoException | undefined;
    let written = 0;
    try {
      const chunk = Buffer.alloc(MiB, 7);
      for (let i = 0; i < 128; i++) {
        await handle.write(chunk);
        written += chunk.length;
      }
      await handle.sync();
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
    } finally {
      await handle.close().catch(() => undefined);
    }
    assert.equal(failure?.code, "ENOSPC", `expected ENOSPC after ${written} bytes`);
    assert.ok(written < 64 * MiB);

    const full = await backend.usage(id);
    await backend.release(id);
    const idle = await backend.usage(id);
    assert.equal(idle.usedBytes, full.usedBytes, "unmounted usage equals the last statfs");
    assert.ok((await allocatedBytes(image)) >= 50 * MiB, "the image holds the written blocks");

    await assert.rejects(
      backend.acquire(id).then(() => backend.delete(id)),
      VolumeAcquiredError,
    );
    await backend.release(id);
    await backend.delete(id);
    await assert.rejects(stat(image), { code: "ENOENT" });
    assert.equal((await findLoopDevicesUnder(path.dirname(image))).filter((d) => d.deleted).length, 0);
    await assert.rejects(backend.usage(id), VolumeBackingMissingError);
  } finally {
    await destroy(backend, id).catch(() => undefined);
  }
});

test("a create that fails leaves no file behind", async () => {
  const backend = newBackend();
  const tooBig = newId();
  const free = await backend.freeBytes();
  const error = await backend.create(tooBig, free + 1024 * GiB).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof AtollError);
  assert.equal(error.code, "INSUFFICIENT_STORAGE");
  assert.ok((error.details?.availableBytes as number) > 0);
  await assert.rejects(stat(backend.imagePath(tooBig)), { code: "ENOENT" });

  // mkfs.ext4 itself fails on an image this small: the sparse file it got must be removed.
  const tooSmall = newId();
  await assert.rejects(backend.create(tooSmall, 4096));
  await assert.rejects(stat(backend.imagePath(tooSmall)), { code: "ENOENT" });
});

test("reconcile after a crash: clean mounts and loops, fsck, drop strays, data intact", async () => {
  const crashed = newBackend();
  const id = newId();
  const snapshotId = newId();
  const payload = randomBytes(3 * MiB + 123);
  await crashed.create(id, 256 * MiB);
  let fresh: LoopVolumeBackend | undefined;
  try {
    const dir = await crashed.acquire(id);
    await writeSynced(path.join(dir, "data.bin"), payload);
    // A byte copy of the live image is what a power cut would leave: journal not yet checkpointed.
    await copyFile(crashed.imagePath(id), crashed.imagePath(snapshotId));
    const stray = path.join(path.dirname(crashed.imagePath(id)), `${newId()}.img`);
    await writeFile(stray, "not a volume");
    // The daemon "dies" here: the mount and the loop device stay behind.

    fresh = newBackend();
    await fresh.pool();
    const snapshotBefore = await readExt4Superblock(runner, fresh.imagePath(snapshotId));
    assert.ok(snapshotBefore.features.includes("needs_recovery"), "the copy needs journal recovery");
    logged.length = 0;
    await fresh.reconcile(new Set([id, snapshotId]));
    const messages = logged.map((l) => l.msg);
    assert.ok(messages.includes("unmounted leftover volume mounts"));
    assert.ok(messages.includes("detaching leftover loop device"));
    assert.ok(messages.includes("removing image of an unknown volume"));
    const snapshotAfter = await readExt4Superblock(runner, fresh.imagePath(snapshotId));
    assert.ok(!snapshotAfter.features.includes("needs_recovery"), "reconcile replayed the journal");
    assert.deepEqual(mountsUnder(await readMountInfo(), fresh.mountsDir), []);
    assert.deepEqual(await findLoopDevicesUnder(path.dirname(fresh.imagePath(id))), []);
    await assert.rejects(stat(stray), { code: "ENOENT" });
    for (const v of [id, snapshotId]) {
      // -n -f: a full read-only check must find nothing to fix.
      const check: number | null = await runner.run("e2fsck", ["-fn", fresh.imagePath(v)]).then(
        () => 0,
        (e: { exitCode: number | null }) => e.exitCode,
      );
      assert.equal(check, 0, `${v} is clean after reconcile`);
      const mounted = await fresh.acquire(v);
      try {
        assert.deepEqual(await readFile(path.join(mounted, "data.bin")), payload);
      } finally {
        await fresh.release(v);
      }
    }
    assert.equal((await fsckExt4(runner, fresh.imagePath(id))).exitCode, 0);
  } finally {
    await umountTree(runner, crashed.mountsDir).catch(() => undefined);
    for (const loop of await findLoopDevicesUnder(path.dirname(crashed.imagePath(id)))) {
      await runner.run("losetup", ["--detach", loop.device]).catch(() => undefined);
    }
    const cleaner = fresh ?? newBackend();
    for (const v of [id, snapshotId]) await destroy(cleaner, v).catch(() => undefined);
  }
});
