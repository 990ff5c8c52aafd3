/**
 * Volumes and attachments (VolumeService, AttachmentService) on the in-memory fake drivers
 * (testing/fakes/): create/delete refusals, hot attach and detach with their conflicts, busy
 * volumes, forced delete, storage references, volume quotas, tenants. The same against the
 * real host: e2e/volume-rules.itest.ts, volume-bad-input.itest.ts.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import type { ProcessExit } from "./drivers.js";
import { type FakeDaemon, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

const GiB = 2 ** 30;
const T = "default";
const ADMIN = { tenant: T, tokenId: "bootstrap", admin: true };

let d: FakeDaemon;
beforeEach(async () => {
  d = await startFakeDaemon({ hostBytes: 20 * GiB });
});
afterEach(async () => {
  await d.close();
});

/** Starts `sleep 1000` in the sandbox with its cwd at `cwd`; resolves once it runs. */
function holdOpen(sandboxId: string, cwd: string): Promise<{ exit: Promise<ProcessExit> }> {
  return new Promise((started) => {
    let done!: (e: ProcessExit) => void;
    const exit = new Promise<ProcessExit>((r) => (done = r));
    d.live
      .get(sandboxId)!
      .runtime.spawn(
        { argv: ["sleep", "1000"], env: {}, cwd, user: "app", stdin: false },
        { onStarted: () => started({ exit }), onStdout: () => undefined, onStderr: () => undefined, onExit: done, onSpawnError: (m) => assert.fail(m) },
      );
  });
}

test("create: a taken name is refused without touching storage; a failed create leaves no row", async () => {
  const v = await d.volumes.create(T, { name: "data", sizeGb: 2 });
  assert.equal(v.capacityBytes, 2 * GiB);
  assert.deepEqual(d.storage.ids(), [v.id]);
  await assert.rejects(d.volumes.create(T, { name: "data", sizeGb: 1 }), { code: "VOLUME_NAME_TAKEN" });
  await assert.rejects(d.volumes.create(T, { name: "Bad Name", sizeGb: 1 }), { code: "INVALID_ARGUMENT" });
  assert.deepEqual(d.storage.calls, [`create ${v.id}`]);
  await assert.rejects(d.volumes.create(T, { name: "huge", sizeGb: 50 }), { code: "INSUFFICIENT_STORAGE" });
  assert.deepEqual(
    (await d.volumes.list(T)).map((x) => x.name),
    ["data"],
  );
  await d.volumes.create(T, { name: "huge", sizeGb: 5 }); // the name is free again
});

test("delete: refused while attached (VOLUME_IN_USE names the sandbox); force detaches it from the running sandbox first", async () => {
  const v = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const sb = await d.sandboxes.create(T, { volumes: [{ id: "data", mountPath: "/data", accessMode: "rw" }] });
  await assert.rejects(d.volumes.delete(T, "data", false), (e: Error & { code?: string; details?: { sandboxes?: string[] } }) => {
    assert.equal(e.code, "VOLUME_IN_USE");
    assert.deepEqual(e.details?.sandboxes, [sb.id]);
    return true;
  });
  assert.deepEqual(d.storage.ids(), [v.id], "nothing deleted");
  await d.volumes.delete(T, "data", true);
  assert.deepEqual(d.storage.ids(), []);
  assert.equal(d.runtime.sandboxes.get(sb.id)!.mounts.has("/data"), false, "unmounted inside the sandbox");
  assert.deepEqual(d.sandboxes.get(T, sb.id).volumes, []);
  assert.equal(d.sandboxes.get(T, sb.id).state, "running", "the sandbox lives on");
  await assert.rejects(d.volumes.get(T, v.id), { code: "VOLUME_NOT_FOUND" });
});

test("hot attach and detach; one storage reference per attachment", async () => {
  const v = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const a = await d.sandboxes.create(T, {});
  const b = await d.sandboxes.create(T, { volumes: [{ id: "data", mountPath: "/shared", accessMode: "ro" }] });
  await d.attachments.attach(T, a.id, { id: "data", mountPath: "/mnt/data", accessMode: "rw" });
  assert.equal(d.storage.references(v.id), 2);
  assert.deepEqual(d.runtime.sandboxes.get(a.id)!.mounts.get("/mnt/data"), { source: `/fake-storage/${v.id}`, target: "/mnt/data", readOnly: false });
  assert.deepEqual((await d.volumes.get(T, v.id)).attachments.map((x) => x.sandboxId).sort(), [a.id, b.id].sort());
  await d.attachments.detach(T, a.id, "data", false);
  assert.equal(d.storage.references(v.id), 1);
  await d.sandboxes.kill(T, b.id);
  assert.equal(d.storage.references(v.id), 0);
});

test("attach refusals: twice in one sandbox, a taken or nested path, a stopped sandbox; detach of what is not attached", async () => {
  await d.volumes.create(T, { name: "one", sizeGb: 1 });
  await d.volumes.create(T, { name: "two", sizeGb: 1 });
  const sb = await d.sandboxes.create(T, { volumes: [{ id: "one", mountPath: "/data", accessMode: "rw" }] });
  await assert.rejects(d.attachments.attach(T, sb.id, { id: "one", mountPath: "/other", accessMode: "rw" }), { code: "VOLUME_ALREADY_ATTACHED" });
  await assert.rejects(d.attachments.attach(T, sb.id, { id: "two", mountPath: "/data", accessMode: "rw" }), { code: "MOUNT_PATH_CONFLICT" });
  await assert.rejects(d.attachments.attach(T, sb.id, { id: "two", mountPath: "/data/inner", accessMode: "rw" }), { code: "MOUNT_PATH_CONFLICT" });
  await assert.rejects(d.attachments.attach(T, sb.id, { id: "nope", mountPath: "/x", accessMode: "rw" }), { code: "VOLUME_NOT_FOUND" });
  await assert.rejects(d.attachments.detach(T, sb.id, "two", false), { code: "VOLUME_NOT_ATTACHED" });
  assert.deepEqual([...d.runtime.sandboxes.get(sb.id)!.mounts.keys()], ["/data"], "nothing mounted by the refusals");
  await d.sandboxes.kill(T, sb.id);
  await assert.rejects(d.attachments.attach(T, sb.id, { id: "two", mountPath: "/x", accessMode: "rw" }), { code: "SANDBOX_NOT_RUNNING" });
  assert.equal(d.storage.calls.filter((c) => c.startsWith("acquire")).length, 1, "only the launch acquired");
});

test("detach of a busy volume: VOLUME_BUSY lists the processes; force detaches anyway", async () => {
  const v = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const sb = await d.sandboxes.create(T, { volumes: [{ id: "data", mountPath: "/data", accessMode: "rw" }] });
  const holder = await holdOpen(sb.id, "/data/sub");
  await assert.rejects(
    d.attachments.detach(T, sb.id, v.id, false),
    (e: Error & { code?: string; details?: { processes?: { command: string; path: string }[] } }) => {
      assert.equal(e.code, "VOLUME_BUSY");
      assert.deepEqual(
        e.details?.processes?.map((p) => [p.command, p.path]),
        [["sleep", "/data/sub"]],
      );
      return true;
    },
  );
  assert.equal(d.storage.references(v.id), 1, "still attached");
  await d.attachments.detach(T, sb.id, v.id, true);
  assert.equal(d.storage.references(v.id), 0);
  await d.sandboxes.kill(T, sb.id);
  assert.equal((await holder.exit).signal, "SIGKILL");
});

test("volume quota: the tenant's GiB limit counts every volume; deleting one makes room", async () => {
  d.tokens.setQuota(ADMIN, "team", { maxSandboxes: null, maxVolumeGb: 3 });
  const two = await d.volumes.create("team", { name: "a", sizeGb: 2 });
  await assert.rejects(d.volumes.create("team", { name: "b", sizeGb: 2 }), { code: "QUOTA_EXCEEDED" });
  assert.deepEqual(d.storage.ids(), [two.id], "a refused volume never reaches storage");
  await d.volumes.delete("team", "a", false);
  await d.volumes.create("team", { name: "b", sizeGb: 2 });
});

test("tenants: another tenant's volume does not exist for you; names are per tenant", async () => {
  const mine = await d.volumes.create("a", { name: "data", sizeGb: 1 });
  await assert.rejects(d.volumes.get("b", mine.id), { code: "VOLUME_NOT_FOUND" });
  await assert.rejects(d.volumes.delete("b", "data", true), { code: "VOLUME_NOT_FOUND" });
  await assert.rejects(d.sandboxes.create("b", { volumes: [{ id: mine.id, mountPath: "/x", accessMode: "ro" }] }), { code: "VOLUME_NOT_FOUND" });
  const theirs = await d.volumes.create("b", { name: "data", sizeGb: 1 });
  assert.notEqual(theirs.id, mine.id);
  assert.deepEqual(
    (await d.volumes.list("a")).map((v) => v.id),
    [mine.id],
  );
});

test("usage comes from the storage driver and grows with what the sandbox wrote", async () => {
  const v = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const before = (await d.volumes.get(T, v.id)).usedBytes;
  const sb = await d.sandboxes.create(T, { volumes: [{ id: "data", mountPath: "/data", accessMode: "rw" }] });
  d.storage.writeFile(d.runtime.sandboxes.get(sb.id)!.mounts.get("/data")!.source, "blob", new Uint8Array(2 ** 20));
  assert.ok((await d.volumes.get(T, v.id)).usedBytes >= before + 2 ** 20);
});
