/** The snapshots table: names unique per tenant, half-made rows dropped at start, quotas' sum. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openDatabase } from "./database.js";
import { SnapshotRepo, type SnapshotRow } from "./snapshot-repo.js";

const row = (id: string, over: Partial<SnapshotRow> = {}): SnapshotRow => ({
  id,
  tenant: "default",
  name: id,
  volumeId: "vol_a",
  volumeName: "a",
  sizeGb: 2,
  capacityBytes: 2 * 2 ** 30,
  state: "ready",
  createdAt: "2026-12-03T00:00:00.000Z",
  ...over,
});

test("a name is unique per tenant; find by id or name sees only ready rows of the tenant", () => {
  const db = openDatabase(":memory:");
  const repo = new SnapshotRepo(db);
  assert.equal(repo.tryInsert(row("snap_1", { name: "nightly" })), true);
  assert.equal(repo.tryInsert(row("snap_2", { name: "nightly" })), false);
  assert.equal(repo.tryInsert(row("snap_3", { name: "nightly", tenant: "other" })), true);
  assert.equal(repo.tryInsert(row("snap_4", { state: "creating" })), true);
  assert.equal(repo.find("default", "nightly")?.id, "snap_1");
  assert.equal(repo.find("default", "snap_1")?.name, "nightly");
  assert.equal(repo.find("default", "snap_3"), undefined, "another tenant's");
  assert.equal(repo.find("default", "snap_4"), undefined, "still being made");
  assert.equal(repo.totalGb("default"), 4, "every state counts in quotas");
  db.close();
});

test("at start, rows a crash left creating or deleting go and the ready ones are returned", () => {
  const db = openDatabase(":memory:");
  const repo = new SnapshotRepo(db);
  repo.tryInsert(row("snap_ready"));
  repo.tryInsert(row("snap_half", { state: "creating" }));
  repo.tryInsert(row("snap_gone", { state: "deleting" }));
  assert.deepEqual([...repo.settleAtStart()], ["snap_ready"]);
  assert.deepEqual(
    repo.listAll().map((r) => r.id),
    ["snap_ready"],
  );
  db.close();
});
