/**
 * The StorageDriver contract (core/drivers.ts), as one suite that runs against any driver: the
 * in-memory fake in the unit tier (testing/fakes/fake-storage.test.ts) and the loop-device
 * backend as root (storage/storage-contract.itest.ts). A fake that passes here behaves as core/
 * expects the real one to; a new driver (docs/testing.md) runs it too.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { StorageDriver } from "../../core/drivers.js";

const MiB = 2 ** 20;
const SIZE = 64 * MiB;

/** A driver under test and a way to reach files through an acquired volume's path. */
export interface StorageSubject {
  driver: StorageDriver;
  /** Writes (and syncs) a file at `relPath` under `source`, the path acquire returned. */
  writeFile(source: string, relPath: string, data: Uint8Array): Promise<void>;
  /** The file's contents, or undefined when it does not exist. */
  readFile(source: string, relPath: string): Promise<Uint8Array | undefined>;
  /** Removes what the subject made (called once, after the suite). */
  dispose(): Promise<void>;
}

/** Registers the contract tests of one storage driver under `describe(name)`. */
export function storageContract(name: string, makeSubject: () => Promise<StorageSubject>): void {
  describe(`StorageDriver contract: ${name}`, () => {
    let s: StorageSubject;
    const made: string[] = [];
    const newVolume = async (size = SIZE) => {
      const id = `vol_c${randomBytes(5).toString("hex")}`;
      await s.driver.create(id, size);
      made.push(id);
      return id;
    };
    before(async () => {
      s = await makeSubject();
    });
    after(async () => {
      for (const id of made) await s.driver.delete(id).catch(() => undefined);
      await s.dispose();
    });

    it("a new volume has the capacity asked for, a little used, and nothing left to allocate", async () => {
      const id = await newVolume();
      const u = await s.driver.usage(id);
      assert.equal(u.capacityBytes, SIZE);
      assert.ok(u.usedBytes > 0 && u.usedBytes < SIZE / 2, `used ${u.usedBytes}`);
      assert.ok(u.usedInodes > 0 && u.usedInodes < u.inodeCapacity, `inodes ${u.usedInodes}/${u.inodeCapacity}`);
      assert.equal(await s.driver.unallocatedBytes(id), 0);
    });

    it("create refuses a taken id, a bad size and a bad id", async () => {
      const id = await newVolume();
      await assert.rejects(s.driver.create(id, SIZE), { code: "VOLUME_NAME_TAKEN" });
      await assert.rejects(s.driver.create(`vol_c${randomBytes(5).toString("hex")}`, 0), RangeError);
      await assert.rejects(s.driver.create(`vol_c${randomBytes(5).toString("hex")}`, 1.5), RangeError);
      await assert.rejects(s.driver.create("../etc", SIZE), RangeError);
    });

    it("a volume larger than the host's free space is refused and leaves nothing behind", async () => {
      const id = `vol_c${randomBytes(5).toString("hex")}`;
      const free = await s.driver.freeBytes();
      assert.ok(free > SIZE, `the host has ${free} bytes free`);
      await assert.rejects(s.driver.create(id, free + 1024 * MiB), { code: "INSUFFICIENT_STORAGE" });
      await assert.rejects(s.driver.usage(id), { code: "VOLUME_NOT_FOUND" });
      await s.driver.create(id, SIZE); // the id is free again
      made.push(id);
    });

    it("acquire is reference counted: every holder gets the same path, files stay until the last release", async () => {
      const id = await newVolume();
      const a = await s.driver.acquire(id);
      const b = await s.driver.acquire(id);
      assert.equal(a, b);
      await s.writeFile(a, "kept.txt", Buffer.from("kept"));
      await s.driver.release(id);
      assert.equal(Buffer.from((await s.readFile(a, "kept.txt"))!).toString(), "kept", "one holder left: still there");
      await s.driver.release(id);
      const again = await s.driver.acquire(id);
      assert.equal(Buffer.from((await s.readFile(again, "kept.txt"))!).toString(), "kept", "data survives release and re-acquire");
      await s.driver.release(id);
    });

    it("usage grows with what is written", async () => {
      const id = await newVolume();
      const at = await s.driver.acquire(id);
      try {
        const before = await s.driver.usage(id);
        await s.writeFile(at, "blob", randomBytes(4 * MiB));
        const later = await s.driver.usage(id);
        assert.ok(later.usedBytes >= before.usedBytes + 4 * MiB, `${before.usedBytes} → ${later.usedBytes}`);
        assert.equal(later.usedInodes, before.usedInodes + 1);
      } finally {
        await s.driver.release(id);
      }
    });

    it("delete is refused while acquired; afterwards the volume is gone and a second delete is a no-op", async () => {
      const id = await newVolume();
      await s.driver.acquire(id);
      await assert.rejects(s.driver.delete(id), { code: "VOLUME_IN_USE" });
      await s.driver.release(id);
      await s.driver.release(id); // one release too many changes nothing
      await s.driver.delete(id);
      await assert.rejects(s.driver.usage(id), { code: "VOLUME_NOT_FOUND" });
      await assert.rejects(s.driver.acquire(id), { code: "VOLUME_NOT_FOUND" });
      await s.driver.delete(id);
    });

    it("reconcile keeps known volumes (released, with their data) and removes unknown ones", async () => {
      const keep = await newVolume();
      const drop = await newVolume();
      await s.writeFile(await s.driver.acquire(keep), "kept.txt", Buffer.from("kept"));
      await s.driver.reconcile(new Set(made.filter((id) => id !== drop)));
      await assert.rejects(s.driver.usage(drop), { code: "VOLUME_NOT_FOUND" });
      await s.driver.delete(keep); // not acquired any more
      made.splice(made.indexOf(keep), 1);
    });

    const newSnapshotId = () => `snap_c${randomBytes(5).toString("hex")}`;

    it("a snapshot of an acquired volume shares its data: it holds little alone, and all of it once the volume is gone", async () => {
      const id = await newVolume();
      const at = await s.driver.acquire(id);
      await s.writeFile(at, "blob", randomBytes(4 * MiB));
      const snap = newSnapshotId();
      await s.driver.snapshot(id, snap);
      await s.writeFile(at, "after.txt", Buffer.from("written while a snapshot exists")); // not frozen
      await s.driver.release(id);
      const shared = await s.driver.snapshotUsage(snap);
      assert.equal(shared.capacityBytes, SIZE);
      assert.ok(shared.allocatedBytes < 4 * MiB, `alone: ${shared.allocatedBytes}`);
      await s.driver.delete(id);
      made.splice(made.indexOf(id), 1);
      const alone = await s.driver.snapshotUsage(snap);
      assert.ok(alone.allocatedBytes >= 4 * MiB, `alone after the volume's delete: ${alone.allocatedBytes}`);
      await s.driver.deleteSnapshot(snap);
      await assert.rejects(s.driver.snapshotUsage(snap), { code: "SNAPSHOT_NOT_FOUND" });
      await s.driver.deleteSnapshot(snap); // a second delete is a no-op
    });

    it("snapshot refuses an unknown volume, a taken snapshot id and a bad id, and changes nothing", async () => {
      const id = await newVolume();
      const snap = newSnapshotId();
      await assert.rejects(s.driver.snapshot(`vol_c${randomBytes(5).toString("hex")}`, snap), { code: "VOLUME_NOT_FOUND" });
      await assert.rejects(s.driver.snapshotUsage(snap), { code: "SNAPSHOT_NOT_FOUND" });
      await s.driver.snapshot(id, snap);
      await assert.rejects(s.driver.snapshot(id, snap), { code: "SNAPSHOT_NAME_TAKEN" });
      await assert.rejects(s.driver.snapshot(id, "../x"), RangeError);
      await s.driver.deleteSnapshot(snap);
    });

    it("a volume made from a snapshot starts as it, grows to its size, and is independent of it and of the source", async () => {
      const id = await newVolume();
      const at = await s.driver.acquire(id);
      await s.writeFile(at, "seed.txt", Buffer.from("seed"));
      const snap = newSnapshotId();
      await s.driver.snapshot(id, snap);
      await s.writeFile(at, "seed.txt", Buffer.from("changed in the source"));
      await s.driver.release(id);
      const fork = `vol_c${randomBytes(5).toString("hex")}`;
      await s.driver.createFrom(fork, snap, 2 * SIZE);
      made.push(fork);
      assert.equal((await s.driver.usage(fork)).capacityBytes, 2 * SIZE);
      const forkAt = await s.driver.acquire(fork);
      assert.equal(Buffer.from((await s.readFile(forkAt, "seed.txt"))!).toString(), "seed");
      await s.writeFile(forkAt, "fork.txt", Buffer.from("only in the fork"));
      await s.driver.release(fork);
      await s.driver.deleteSnapshot(snap); // the fork keeps its data
      const again = await s.driver.acquire(fork);
      assert.equal(Buffer.from((await s.readFile(again, "seed.txt"))!).toString(), "seed");
      assert.equal(Buffer.from((await s.readFile(again, "fork.txt"))!).toString(), "only in the fork");
      await s.driver.release(fork);
      const src = await s.driver.acquire(id);
      assert.equal(await s.readFile(src, "fork.txt"), undefined, "the source does not see the fork's writes");
      await s.driver.release(id);
    });

    it("createFrom refuses a smaller size, an unknown snapshot and a taken id; restore refuses a mounted volume", async () => {
      const id = await newVolume();
      const snap = newSnapshotId();
      await s.driver.snapshot(id, snap);
      const fork = `vol_c${randomBytes(5).toString("hex")}`;
      await assert.rejects(s.driver.createFrom(fork, snap, SIZE / 2), RangeError);
      await assert.rejects(s.driver.createFrom(fork, newSnapshotId(), SIZE), { code: "SNAPSHOT_NOT_FOUND" });
      await assert.rejects(s.driver.createFrom(id, snap, SIZE), { code: "VOLUME_NAME_TAKEN" });
      await assert.rejects(s.driver.usage(fork), { code: "VOLUME_NOT_FOUND" }, "nothing was left behind");
      await s.driver.acquire(id);
      await assert.rejects(s.driver.restore(id, snap), { code: "VOLUME_IN_USE" });
      await s.driver.release(id);
      await s.driver.deleteSnapshot(snap);
    });

    it("restore rolls a volume back to a snapshot", async () => {
      const id = await newVolume();
      const at = await s.driver.acquire(id);
      await s.writeFile(at, "state.txt", Buffer.from("good"));
      const snap = newSnapshotId();
      await s.driver.snapshot(id, snap);
      await s.writeFile(at, "state.txt", Buffer.from("broken"));
      await s.writeFile(at, "junk.txt", Buffer.from("junk"));
      await s.driver.release(id);
      await s.driver.restore(id, snap);
      const back = await s.driver.acquire(id);
      assert.equal(Buffer.from((await s.readFile(back, "state.txt"))!).toString(), "good");
      assert.equal(await s.readFile(back, "junk.txt"), undefined);
      await s.driver.release(id);
      assert.equal((await s.driver.usage(id)).capacityBytes, SIZE);
      await s.driver.deleteSnapshot(snap);
    });

    it("reconcile removes snapshots the store does not know and keeps the others", async () => {
      const id = await newVolume();
      const keep = newSnapshotId();
      const drop = newSnapshotId();
      await s.driver.snapshot(id, keep);
      await s.driver.snapshot(id, drop);
      await s.driver.reconcile(new Set(made), new Map(), new Set([keep]));
      await assert.rejects(s.driver.snapshotUsage(drop), { code: "SNAPSHOT_NOT_FOUND" });
      assert.equal((await s.driver.snapshotUsage(keep)).capacityBytes, SIZE);
      await s.driver.deleteSnapshot(keep);
    });

    it("a snapshot mounts read-only, reference counted; it cannot be deleted while held, and reconcile keeps it held", async () => {
      const id = await newVolume();
      const at = await s.driver.acquire(id);
      await s.writeFile(at, "base.txt", Buffer.from("from the snapshot"));
      const snap = newSnapshotId();
      await s.driver.snapshot(id, snap);
      await s.driver.release(id);
      const ro = await s.driver.acquireSnapshot(snap);
      assert.equal(await s.driver.acquireSnapshot(snap), ro, "a second holder gets the same path");
      assert.equal(Buffer.from((await s.readFile(ro, "base.txt"))!).toString(), "from the snapshot");
      await assert.rejects(s.writeFile(ro, "new.txt", Buffer.from("x")), { code: "EROFS" });
      await assert.rejects(s.driver.deleteSnapshot(snap), { code: "SNAPSHOT_IN_USE" });
      await s.driver.reconcile(new Set(made), new Map([[snap, 1]]), new Set([snap]));
      assert.equal(Buffer.from((await s.readFile(ro, "base.txt"))!).toString(), "from the snapshot", "still mounted after reconcile");
      await assert.rejects(s.driver.deleteSnapshot(snap), { code: "SNAPSHOT_IN_USE" });
      await s.driver.release(snap);
      await s.driver.deleteSnapshot(snap);
      await assert.rejects(s.driver.acquireSnapshot(snap), { code: "SNAPSHOT_NOT_FOUND" });
      await assert.rejects(s.driver.acquireSnapshot("../x"), RangeError);
    });

    it("reconcile keeps the data of a known volume", async () => {
      const keep = await newVolume();
      const at = await s.driver.acquire(keep);
      await s.writeFile(at, "kept.txt", Buffer.from("kept"));
      await s.driver.release(keep);
      await s.driver.reconcile(new Set(made));
      const again = await s.driver.acquire(keep);
      assert.equal(Buffer.from((await s.readFile(again, "kept.txt"))!).toString(), "kept");
      await s.driver.release(keep);
    });
  });
}
