/**
 * Every /v1/volumes route in process (`app.inject()` on the daemon's buildHttpServer over the
 * fake drivers, testing/fakes/fake-daemon.ts): create, list, get, delete with its refusals,
 * usage history, and a volume's file routes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  d = await startFakeDaemon({ hostBytes: 10 * 2 ** 30, files: { result: { entries: 0 } } });
});
after(async () => {
  await d.close();
});

interface Vol {
  id: string;
  name: string;
  capacityBytes: number;
  usedBytes: number;
  attachments: { sandboxId: string }[];
}

describe("/v1/volumes", () => {
  it("POST creates (201); a taken name is 409, bad input 400, no room 409 INSUFFICIENT_STORAGE", async () => {
    const res = await d.request("POST", "/v1/volumes", { body: { name: "cache", sizeGb: 1 } });
    assert.equal(res.statusCode, 201, res.body);
    const v = res.json() as Vol;
    assert.match(v.id, /^vol_/);
    assert.equal(v.capacityBytes, 2 ** 30);
    assert.ok(v.usedBytes > 0 && v.usedBytes < v.capacityBytes);
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "cache", sizeGb: 1 } }), 409, "VOLUME_NAME_TAKEN");
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "cache2" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "UPPER", sizeGb: 1 } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "big", sizeGb: 20 } }), 409, "INSUFFICIENT_STORAGE");
  });

  it("GET lists; GET :id finds by id or name; unknown is 404 VOLUME_NOT_FOUND", async () => {
    const v = (await d.request("POST", "/v1/volumes", { body: { name: "listed", sizeGb: 1 } })).json() as Vol;
    const list = (await d.request("GET", "/v1/volumes")).json() as { volumes: Vol[] };
    assert.ok(list.volumes.some((x) => x.id === v.id));
    assert.equal(((await d.request("GET", "/v1/volumes/listed")).json() as Vol).id, v.id);
    assert.equal(((await d.request("GET", `/v1/volumes/${v.id}`)).json() as Vol).name, "listed");
    assertWireError(await d.request("GET", "/v1/volumes/vol_nope"), 404, "VOLUME_NOT_FOUND");
    assertWireError(await d.request("DELETE", "/v1/volumes/vol_nope"), 404, "VOLUME_NOT_FOUND");
  });

  it("DELETE: 409 VOLUME_IN_USE while attached, ?force=true detaches and deletes (200)", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "busy", sizeGb: 1 } });
    const sb = (await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "busy", mountPath: "/b" }] } })).json() as { id: string };
    assertWireError(await d.request("DELETE", "/v1/volumes/busy"), 409, "VOLUME_IN_USE");
    const forced = await d.request("DELETE", "/v1/volumes/busy?force=true");
    assert.equal(forced.statusCode, 200, forced.body);
    assert.deepEqual((forced.json() as Vol).attachments, []);
    assertWireError(await d.request("GET", "/v1/volumes/busy"), 404, "VOLUME_NOT_FOUND");
    assert.equal((await d.request("GET", `/v1/sandboxes/${sb.id}`)).json().state, "running");
  });

  it("usage: samples end with the live figure; a bad since is 400", async () => {
    const v = (await d.request("POST", "/v1/volumes", { body: { name: "used", sizeGb: 1 } })).json() as Vol;
    const res = await d.request("GET", "/v1/volumes/used/usage?since=1h");
    assert.equal(res.statusCode, 200);
    const body = res.json() as { volumeId: string; capacityBytes: number; samples: { usedBytes: number }[] };
    assert.equal(body.volumeId, v.id);
    assert.equal(body.samples.at(-1)?.usedBytes, v.usedBytes);
    assertWireError(await d.request("GET", "/v1/volumes/used/usage?since=yesterday"), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("GET", "/v1/volumes/vol_nope/usage"), 404, "VOLUME_NOT_FOUND");
  });

  it("files: an operation runs on the volume as app (200); as root it is 400", async () => {
    await d.request("POST", "/v1/volumes", { body: { name: "files", sizeGb: 1 } });
    const res = await d.request("POST", "/v1/volumes/files/fs/op", { body: { op: "mkdir", path: "/a", recursive: true } });
    assert.equal(res.statusCode, 200, res.body);
    assertWireError(await d.request("POST", "/v1/volumes/files/fs/op?user=root", { body: { op: "stat", path: "/" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/volumes/vol_nope/fs/op", { body: { op: "stat", path: "/" } }), 404, "VOLUME_NOT_FOUND");
  });
});
