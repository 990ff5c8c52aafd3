/**
 * Snapshots mounted read-only in sandboxes (issue 14), in process (fake drivers,
 * testing/fakes/fake-daemon.ts): at create and hot, by id or name; "rw" refused with a hint and
 * nothing changed; a mounted snapshot cannot be deleted until every sandbox let go of it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SandboxInfo, SnapshotInfo } from "atoll/contract";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
let snap: SnapshotInfo;
before(async () => {
  d = await startFakeDaemon({ hostBytes: 40 * 2 ** 30 });
  await d.request("POST", "/v1/volumes", { body: { name: "golden", sizeGb: 1 } });
  snap = (await d.request("POST", "/v1/volumes/golden/snapshots", { body: { name: "golden-v1" } })).json() as SnapshotInfo;
});
after(async () => {
  await d.close();
});

const create = async (body: object) => {
  const res = await d.request("POST", "/v1/sandboxes", { body: { timeout: "5m", ...body } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as SandboxInfo;
};
const message = (res: { json(): unknown }) => (res.json() as { error: { message: string } }).error.message;
const liveCount = async () => ((await d.request("GET", "/v1/sandboxes?state=running")).json() as { sandboxes: SandboxInfo[] }).sandboxes.length;

describe("snapshots mounted read-only", () => {
  it("mounts at create by id and by name, listed with the snapshot's id and name, and blocks its delete until the sandboxes end", async () => {
    const a = await create({ volumes: [{ id: snap.id, mountPath: "/golden", accessMode: "ro" }] });
    const b = await create({ volumes: [{ id: "golden-v1", mountPath: "/g", accessMode: "ro" }] });
    assert.deepEqual(
      a.volumes.map((v) => [v.volumeId, v.volumeName, v.mountPath, v.accessMode]),
      [[snap.id, "golden-v1", "/golden", "ro"]],
    );
    assert.equal(b.volumes[0]?.volumeId, snap.id);
    assert.equal(d.storage.references(snap.id), 2, "one storage reference per sandbox");
    const refused = await d.request("DELETE", "/v1/snapshots/golden-v1");
    assertWireError(refused, 409, "SNAPSHOT_IN_USE");
    assert.match(message(refused), new RegExp(a.id));
    assert.equal((await d.request("GET", "/v1/snapshots/golden-v1")).statusCode, 200, "still there");
    await d.request("DELETE", `/v1/sandboxes/${a.id}`);
    assertWireError(await d.request("DELETE", "/v1/snapshots/golden-v1"), 409, "SNAPSHOT_IN_USE");
    await d.request("DELETE", `/v1/sandboxes/${b.id}`);
    assert.equal(d.storage.references(snap.id), 0);
    // The volume it came from is unaffected by all of it, and forks still work.
    assert.equal((await d.request("POST", "/v1/volumes", { body: { name: "golden-fork", sizeGb: 1, from: "golden-v1" } })).statusCode, 201);
  });

  it('"rw" (also by default) is refused with a hint to fork it, and nothing is created', async () => {
    const before = await liveCount();
    const rw = await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: snap.id, mountPath: "/golden", accessMode: "rw" }] } });
    assertWireError(rw, 400, "INVALID_ARGUMENT");
    assert.match(message(rw), /read-only/);
    assert.match(message(rw), /createVolume\(\{ name, sizeGb, from: "golden-v1" \}\)/);
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "golden-v1", mountPath: "/golden" }] } }), 400, "INVALID_ARGUMENT");
    assertWireError(
      await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "snap_nope", mountPath: "/golden", accessMode: "ro" }] } }),
      404,
      "VOLUME_NOT_FOUND",
    );
    assert.equal(await liveCount(), before);
    assert.equal(d.storage.references(snap.id), 0);
  });

  it("hot attach and detach a snapshot read-only; rw hot attach is refused", async () => {
    const sb = await create({});
    assertWireError(
      await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "golden-v1", mountPath: "/g", accessMode: "rw" } }),
      400,
      "INVALID_ARGUMENT",
    );
    const attached = await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "golden-v1", mountPath: "/g", accessMode: "ro" } });
    assert.equal(attached.statusCode, 200, attached.body);
    assert.deepEqual(
      (attached.json() as SandboxInfo).volumes.map((v) => [v.volumeId, v.accessMode]),
      [[snap.id, "ro"]],
    );
    assertWireError(await d.request("DELETE", `/v1/snapshots/${snap.id}`), 409, "SNAPSHOT_IN_USE");
    const detached = await d.request("DELETE", `/v1/sandboxes/${sb.id}/volumes/golden-v1`);
    assert.equal(detached.statusCode, 200, detached.body);
    assert.deepEqual((detached.json() as SandboxInfo).volumes, []);
    assert.equal(d.storage.references(snap.id), 0);
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assert.equal((await d.request("DELETE", `/v1/snapshots/${snap.id}`)).statusCode, 200);
  });
});
