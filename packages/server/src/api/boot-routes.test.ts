/**
 * Bootable volumes and `root` (issue 14), in process (fake drivers, testing/fakes/fake-daemon.ts):
 * which volumes and snapshots are bootable, a volume booted read-write is its sandbox's alone, a
 * bootable snapshot boots any number of sandboxes, and every refusal changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SandboxInfo, SnapshotInfo, VolumeInfo } from "atoll/contract";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  d = await startFakeDaemon({ hostBytes: 40 * 2 ** 30 });
});
after(async () => {
  await d.close();
});

const post = async <T>(url: string, body: object, status = 201) => {
  const res = await d.request("POST", url, { body });
  assert.equal(res.statusCode, status, res.body);
  return res.json() as T;
};
const running = async () => ((await d.request("GET", "/v1/sandboxes?state=running")).json() as { sandboxes: SandboxInfo[] }).sandboxes.length;

describe("bootable volumes and root", () => {
  it('from: "builtin:debian-12" makes a bootable volume; its snapshots and their forks are bootable, other volumes are not', async () => {
    const image = await post<VolumeInfo>("/v1/volumes", { name: "my-image", sizeGb: 2, from: "builtin:debian-12" });
    assert.equal(image.bootable, true);
    const snap = await post<SnapshotInfo>("/v1/volumes/my-image/snapshots", { name: "my-image-v1" });
    assert.equal(snap.bootable, true);
    assert.equal((await post<VolumeInfo>("/v1/volumes", { name: "my-image-2", sizeGb: 2, from: "my-image-v1" })).bootable, true);
    const plain = await post<VolumeInfo>("/v1/volumes", { name: "plain", sizeGb: 1 });
    assert.equal(plain.bootable, false);
    assert.equal((await post<SnapshotInfo>("/v1/volumes/plain/snapshots", { name: "plain-v1" })).bootable, false);
    assertWireError(await d.request("POST", "/v1/volumes", { body: { name: "nope", sizeGb: 2, from: "builtin:debian-99" } }), 400, "INVALID_ARGUMENT");
    assert.equal((await d.request("GET", "/v1/volumes/nope")).statusCode, 404, "nothing was made");
  });

  it("root: a volume boots read-write and is that sandbox's alone until it ends", async () => {
    const sb = await post<SandboxInfo>("/v1/sandboxes", { timeout: "5m", root: "my-image" });
    const image = (await d.request("GET", "/v1/volumes/my-image")).json() as VolumeInfo;
    assert.deepEqual(
      sb.volumes.map((v) => [v.volumeId, v.mountPath, v.accessMode]),
      [[image.id, "/", "rw"]],
    );
    const before = await running();
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { root: "my-image" } }), 409, "VOLUME_IN_USE");
    assertWireError(
      await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "my-image", mountPath: "/m", accessMode: "ro" }] } }),
      409,
      "VOLUME_IN_USE",
    );
    assert.equal(await running(), before, "refusals start nothing");
    const other = await post<SandboxInfo>("/v1/sandboxes", { timeout: "5m" });
    assertWireError(await d.request("POST", `/v1/sandboxes/${other.id}/volumes`, { body: { id: "my-image", mountPath: "/m" } }), 409, "VOLUME_IN_USE");
    assertWireError(await d.request("DELETE", `/v1/sandboxes/${sb.id}/volumes/my-image`), 409, "VOLUME_IN_USE");
    // Mounting another volume under a booted root works (its root is not a mount-path conflict).
    await post<SandboxInfo>(`/v1/sandboxes/${sb.id}/volumes`, { id: "plain", mountPath: "/data" }, 200);
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    await d.request("DELETE", `/v1/sandboxes/${other.id}`);
    assert.equal(d.storage.references(image.id), 0);
    const again = await post<SandboxInfo>("/v1/sandboxes", { timeout: "5m", root: image.id });
    await d.request("DELETE", `/v1/sandboxes/${again.id}`);
  });

  it("root: a snapshot boots any number of sandboxes read-only, and cannot be deleted meanwhile", async () => {
    const a = await post<SandboxInfo>("/v1/sandboxes", { timeout: "5m", root: "my-image-v1" });
    const b = await post<SandboxInfo>("/v1/sandboxes", { timeout: "5m", root: "my-image-v1" });
    assert.deepEqual(
      a.volumes.map((v) => [v.volumeName, v.mountPath, v.accessMode]),
      [["my-image-v1", "/", "ro"]],
    );
    assertWireError(await d.request("DELETE", "/v1/snapshots/my-image-v1"), 409, "SNAPSHOT_IN_USE");
    await d.request("DELETE", `/v1/sandboxes/${a.id}`);
    await d.request("DELETE", `/v1/sandboxes/${b.id}`);
    assert.equal((await d.request("DELETE", "/v1/snapshots/my-image-v1")).statusCode, 200);
  });

  it("root that is unknown or not bootable is refused and changes nothing", async () => {
    const before = await running();
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { root: "plain" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { root: "plain-v1" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { root: "no-such-thing" } }), 404, "VOLUME_NOT_FOUND");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { root: "" } }), 400, "INVALID_ARGUMENT");
    assert.equal(await running(), before);
  });
});
