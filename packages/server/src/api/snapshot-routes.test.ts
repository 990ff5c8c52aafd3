/**
 * The snapshot routes in process (fake drivers, testing/fakes/fake-daemon.ts): take, list,
 * inspect and delete, with every refusal changing nothing, tenants kept apart, quotas counting
 * snapshots, and snapshots outliving their volume.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SnapshotInfo } from "atoll/contract";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  d = await startFakeDaemon({ hostBytes: 40 * 2 ** 30 });
});
after(async () => {
  await d.close();
});

type Snap = SnapshotInfo;

const names = async (token?: string) =>
  ((await d.request("GET", "/v1/snapshots", token ? { token } : {})).json() as { snapshots: Snap[] }).snapshots.map((s) => s.name).sort();

describe("/v1/snapshots", () => {
  it("POST /v1/volumes/:id/snapshots takes one (201), of a volume by id or name", async () => {
    const vol = (await d.request("POST", "/v1/volumes", { body: { name: "data", sizeGb: 1 } })).json() as { id: string };
    const res = await d.request("POST", "/v1/volumes/data/snapshots", { body: { name: "first" } });
    assert.equal(res.statusCode, 201, res.body);
    const snap = res.json() as Snap;
    assert.match(snap.id, /^snap_[a-z2-7]{20}$/);
    assert.deepEqual(
      {
        name: snap.name,
        volumeId: snap.volumeId,
        volumeName: snap.volumeName,
        sizeGb: snap.sizeGb,
        capacityBytes: snap.capacityBytes,
        bootable: snap.bootable,
      },
      { name: "first", volumeId: vol.id, volumeName: "data", sizeGb: 1, capacityBytes: 2 ** 30, bootable: false },
    );
    assert.ok(Number.isInteger(snap.allocatedBytes) && snap.allocatedBytes >= 0);
    assert.equal((await d.request("POST", `/v1/volumes/${vol.id}/snapshots`, { body: { name: "second" } })).statusCode, 201);
    assert.equal(((await d.request("GET", "/v1/snapshots/first")).json() as Snap).id, snap.id);
    assert.equal(((await d.request("GET", `/v1/snapshots/${snap.id}`)).json() as Snap).name, "first");
    const ofVolume = (await d.request("GET", "/v1/volumes/data/snapshots")).json() as { snapshots: Snap[] };
    assert.deepEqual(ofVolume.snapshots.map((s) => s.name).sort(), ["first", "second"]);
  });

  it("bad input is refused with a clear code and changes nothing", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "refusals", sizeGb: 1 } });
    await d.request("POST", "/v1/volumes/refusals/snapshots", { body: { name: "taken" } });
    const before = await names();
    assertWireError(await d.request("POST", "/v1/volumes/refusals/snapshots", { body: { name: "taken" } }), 409, "SNAPSHOT_NAME_TAKEN");
    assertWireError(await d.request("POST", "/v1/volumes/vol_nope/snapshots", { body: { name: "orphan" } }), 404, "VOLUME_NOT_FOUND");
    assertWireError(await d.request("POST", "/v1/volumes/refusals/snapshots", { body: { name: "Bad Name" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/volumes/refusals/snapshots", { body: {} }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/volumes/refusals/snapshots", { body: { name: "x", extra: 1 } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("GET", "/v1/snapshots/snap_nope"), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("DELETE", "/v1/snapshots/snap_nope"), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("GET", "/v1/volumes/vol_nope/snapshots"), 404, "VOLUME_NOT_FOUND");
    assert.deepEqual(await names(), before);
  });

  it("a volume attached to a running sandbox can be snapshotted; it stays attached", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "live", sizeGb: 1 } });
    const sb = (await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "live", mountPath: "/data" }] } })).json() as { id: string };
    assert.equal((await d.request("POST", "/v1/volumes/live/snapshots", { body: { name: "live-1" } })).statusCode, 201);
    const vol = (await d.request("GET", "/v1/volumes/live")).json() as { attachments: { sandboxId: string }[] };
    assert.deepEqual(
      vol.attachments.map((a) => a.sandboxId),
      [sb.id],
    );
  });

  it("deleting the volume keeps its snapshots; deleting a snapshot removes it", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "gone", sizeGb: 1 } });
    await d.request("POST", "/v1/volumes/gone/snapshots", { body: { name: "survivor" } });
    assert.equal((await d.request("DELETE", "/v1/volumes/gone")).statusCode, 200);
    const kept = (await d.request("GET", "/v1/snapshots/survivor")).json() as Snap;
    assert.equal(kept.volumeName, "gone");
    const del = await d.request("DELETE", "/v1/snapshots/survivor");
    assert.equal(del.statusCode, 200, del.body);
    assert.equal((del.json() as Snap).id, kept.id);
    assertWireError(await d.request("GET", `/v1/snapshots/${kept.id}`), 404, "SNAPSHOT_NOT_FOUND");
  });

  it("a tenant sees only its own snapshots: another's answer 404", async () => {
    const token = await d.tenantToken("other");
    await d.request("POST", "/v1/volumes", { token, body: { name: "theirs", sizeGb: 1 } });
    const theirs = (await d.request("POST", "/v1/volumes/theirs/snapshots", { token, body: { name: "private" } })).json() as Snap;
    assert.deepEqual(await names(token), ["private"]);
    assert.ok(!(await names()).includes("private"));
    assertWireError(await d.request("GET", `/v1/snapshots/${theirs.id}`), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("DELETE", `/v1/snapshots/${theirs.id}`), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("POST", `/v1/volumes/${theirs.volumeId}/snapshots`, { body: { name: "stolen" } }), 404, "VOLUME_NOT_FOUND");
  });

  it("a snapshot counts its volume's size against the tenant's volume quota", async () => {
    const token = await d.tenantToken("quota");
    assert.equal((await d.request("PUT", "/v1/tenants/quota/quota", { body: { maxSandboxes: null, maxVolumeGb: 3 } })).statusCode, 200);
    await d.request("POST", "/v1/volumes", { token, body: { name: "two", sizeGb: 2 } });
    const refused = await d.request("POST", "/v1/volumes/two/snapshots", { token, body: { name: "too-much" } });
    assertWireError(refused, 429, "QUOTA_EXCEEDED");
    assert.deepEqual(await names(token), []);
    await d.request("POST", "/v1/volumes", { token, body: { name: "one", sizeGb: 1 } });
    await d.request("DELETE", "/v1/volumes/two", { token });
    assert.equal((await d.request("POST", "/v1/volumes/one/snapshots", { token, body: { name: "fits" } })).statusCode, 201);
    // 1 GiB volume + 1 GiB snapshot: a 2 GiB volume no longer fits in 3.
    assertWireError(await d.request("POST", "/v1/volumes", { token, body: { name: "later", sizeGb: 2 } }), 429, "QUOTA_EXCEEDED");
  });
});

describe("volumes from snapshots, restore", () => {
  it("POST /v1/volumes with `from` makes a volume that starts as the snapshot, at least its size", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "origin", sizeGb: 1 } });
    const snap = (await d.request("POST", "/v1/volumes/origin/snapshots", { body: { name: "origin-1" } })).json() as Snap;
    const fork = await d.request("POST", "/v1/volumes", { body: { name: "fork", sizeGb: 2, from: "origin-1" } });
    assert.equal(fork.statusCode, 201, fork.body);
    assert.equal((fork.json() as { capacityBytes: number }).capacityBytes, 2 * 2 ** 30);
    assert.equal((await d.request("POST", "/v1/volumes", { body: { name: "fork-by-id", sizeGb: 1, from: snap.id } })).statusCode, 201);
  });

  it("a fork smaller than its snapshot, an unknown snapshot or a taken name is refused and changes nothing", async () => {
    const before = ((await d.request("GET", "/v1/volumes")).json() as { volumes: unknown[] }).volumes.length;
    const small = await d.request("POST", "/v1/volumes", { body: { name: "small-fork", sizeGb: 0.5, from: "origin-1" } });
    assertWireError(small, 400, "INVALID_ARGUMENT");
    assert.match(small.body, /smaller than snapshot/);
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "nowhere", sizeGb: 1, from: "snap_nope" } }), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "fork", sizeGb: 2, from: "origin-1" } }), 409, "VOLUME_NAME_TAKEN");
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "empty-from", sizeGb: 1, from: "" } }), 400, "INVALID_ARGUMENT");
    assert.equal(((await d.request("GET", "/v1/volumes")).json() as { volumes: unknown[] }).volumes.length, before);
  });

  it("POST /v1/volumes/:id/restore rolls back a detached volume; attached is 409 VOLUME_IN_USE", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "rollback", sizeGb: 1 } });
    await d.request("POST", "/v1/volumes/rollback/snapshots", { body: { name: "rollback-1" } });
    const ok = await d.request("POST", "/v1/volumes/rollback/restore", { body: { snapshot: "rollback-1" } });
    assert.equal(ok.statusCode, 200, ok.body);
    await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "rollback", mountPath: "/r" }] } });
    assertWireError(await d.request("POST", "/v1/volumes/rollback/restore", { body: { snapshot: "rollback-1" } }), 409, "VOLUME_IN_USE");
    assertWireError(await d.request("POST", "/v1/volumes/rollback/restore", { body: { snapshot: "snap_nope" } }), 404, "SNAPSHOT_NOT_FOUND");
    assertWireError(await d.request("POST", "/v1/volumes/rollback/restore", { body: {} }), 400, "INVALID_ARGUMENT");
    await d.request("POST", "/v1/volumes", { body: { name: "tiny", sizeGb: 0.5 } });
    assertWireError(await d.request("POST", "/v1/volumes/tiny/restore", { body: { snapshot: "rollback-1" } }), 400, "INVALID_ARGUMENT");
  });
});
