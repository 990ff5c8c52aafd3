/**
 * Real-host tests of loop-device.ts and ext4-image.ts (root, losetup, mkfs.ext4, e2fsck).
 * Run: node --test packages/server/dist/host/loop-device.itest.js
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { Ext4CheckError, createExt4Image, fsckExt4, readExt4Superblock, removeImage, usedBytesOf } from "./ext4-image.js";
import { LoopAlreadyAttachedError, attachLoop, detachLoop, findLoopDevicesForFile, findLoopDevicesUnder, listLoopDevices } from "./loop-device.js";
import { execFileRunner as runner } from "./run-command.js";

test("attach, refuse a second attach of the same image, list, detach", async () => {
  const dir = await mkdtemp("/var/tmp/atoll-loop-itest-");
  const image = path.join(dir, "a.img");
  const devices: string[] = [];
  try {
    await createExt4Image(runner, image, 64 * 1024 * 1024, { features: ["^has_journal"], rootOwner: { uid: 101000, gid: 101000 } });
    const sb = await readExt4Superblock(runner, image);
    assert.equal(sb.blockCount * sb.blockSize, 64 * 1024 * 1024);
    assert.ok(!sb.features.includes("has_journal"));
    assert.ok(usedBytesOf(sb) > 0);

    const device = await attachLoop(runner, image);
    devices.push(device);
    assert.match(device, /^\/dev\/loop\d+$/);
    // Concurrent attempts are serialised: every one of them sees the first attach.
    const again = await Promise.allSettled([attachLoop(runner, image), attachLoop(runner, path.join(dir, ".", "a.img"))]);
    for (const r of again) {
      if (r.status === "fulfilled") devices.push(r.value);
      else assert.ok(r.reason instanceof LoopAlreadyAttachedError && r.reason.device === device);
    }
    assert.equal(devices.length, 1, "one image, one loop device");

    const listed = (await listLoopDevices()).find((d) => d.device === device);
    assert.equal(listed?.backingFile, image);
    assert.equal(listed?.directIo, true);
    assert.deepEqual(
      (await findLoopDevicesForFile(image)).map((d) => d.device),
      [device],
    );
    assert.deepEqual(
      (await findLoopDevicesUnder(dir)).map((d) => d.device),
      [device],
    );

    await detachLoop(runner, device);
    await detachLoop(runner, device); // idempotent
    devices.length = 0;
    assert.deepEqual(await findLoopDevicesUnder(dir), []);

    assert.deepEqual((await fsckExt4(runner, image)).exitCode, 0);
    await removeImage(image);
    await removeImage(image);
    await assert.rejects(stat(image), { code: "ENOENT" });
  } finally {
    for (const d of devices) await detachLoop(runner, d).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

test("fsckExt4 throws Ext4CheckError on something that is not a filesystem", async () => {
  const dir = await mkdtemp("/var/tmp/atoll-loop-itest-");
  try {
    const junk = path.join(dir, "junk.img");
    await writeFile(junk, Buffer.alloc(1024 * 1024));
    await assert.rejects(fsckExt4(runner, junk), (e: unknown) => e instanceof Ext4CheckError && (e.exitCode ?? 0) >= 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
