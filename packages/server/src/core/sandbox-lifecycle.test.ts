/**
 * The sandbox state machine (SandboxService with its attachments, quotas and tenants) on the
 * in-memory fake drivers (testing/fakes/): what create, kill, timeouts, crashes, sessions,
 * failed launches and shutdown do to the store, the runtime and the volumes' references.
 * The same decisions against the real host: e2e/limits-lifecycle.itest.ts, sandbox-timeout.itest.ts.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { ServerError } from "atoll/contract";
import type { SessionOutput } from "./sandbox-session.js";
import { type FakeDaemon, startFakeDaemon } from "../testing/fakes/fake-daemon.js";
import type { FakeSandbox } from "../testing/fakes/fake-runtime.js";

let d: FakeDaemon;
beforeEach(async () => {
  d = await startFakeDaemon();
});
afterEach(async () => {
  await d.close();
});

const T = "default";
const fakeOf = (id: string): FakeSandbox => d.runtime.sandboxes.get(id)!;

/** A session client that only remembers why its sandbox stopped. */
function sessionOut(): SessionOutput & { stoppedWith?: string } {
  const out: SessionOutput & { stoppedWith?: string } = {
    started: () => undefined,
    stdout: (_i, _d, flushed) => flushed(),
    stderr: (_i, _d, flushed) => flushed(),
    exit: () => undefined,
    error: () => undefined,
    stopped: (reason) => (out.stoppedWith = reason),
    stdinAck: () => undefined,
    pauseInput: () => undefined,
    violation: () => undefined,
  };
  return out;
}

test("create launches with the limits asked for and the volume mounted; kill stops it once and releases everything", async () => {
  const vol = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const info = await d.sandboxes.create(T, {
    memoryMb: 512,
    pids: 64,
    cpuWeight: 50,
    labels: { app: "x" },
    volumes: [{ id: "data", mountPath: "/data", accessMode: "ro" }],
  });
  assert.equal(info.state, "running");
  assert.deepEqual(
    info.volumes.map((v) => [v.volumeId, v.mountPath, v.accessMode]),
    [[vol.id, "/data", "ro"]],
  );
  const sb = fakeOf(info.id);
  assert.deepEqual(sb.spec.limits, { memoryBytes: 512 * 2 ** 20, pids: 64, cpuWeight: 50, rootfsBytes: info.rootfsBytes });
  assert.deepEqual(sb.spec.mounts, [{ source: `/fake-storage/${vol.id}`, target: "/data", readOnly: true }]);
  assert.equal(d.storage.references(vol.id), 1);

  const killed = await d.sandboxes.kill(T, info.id);
  assert.equal(killed.state, "stopped");
  assert.equal(killed.stopReason, "killed");
  assert.deepEqual(killed.volumes, []);
  assert.deepEqual(await sb.stopped, { reason: "killed" });
  assert.equal(d.storage.references(vol.id), 0);
  assert.equal(d.live.get(info.id), undefined);
  const again = await d.sandboxes.kill(T, info.id);
  assert.deepEqual(again, killed, "killing a stopped sandbox changes nothing");
  assert.throws(() => d.sandboxes.assertRunning(T, info.id), { code: "SANDBOX_NOT_RUNNING", message: /killed/ });
});

test("a timeout stops the sandbox with reason timeout, and says so to whoever asks later", async () => {
  const info = await d.sandboxes.create(T, { timeout: 50 });
  assert.ok(info.expiresAt !== null);
  assert.deepEqual(await fakeOf(info.id).stopped, { reason: "killed" }, "the runtime is told to kill");
  await waitFor(() => d.sandboxes.get(T, info.id).state === "stopped");
  assert.equal(d.sandboxes.get(T, info.id).stopReason, "timeout");
  assert.throws(
    () => d.sandboxes.assertRunning(T, info.id),
    (e: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(e.code, "SANDBOX_NOT_RUNNING");
      assert.equal(e.details?.stopReason, "timeout");
      assert.match(e.message, /timeout \(50ms\) expired/);
      return true;
    },
  );
});

test("a sandbox whose init dies stops with the runtime's reason and lets go of its volumes", async () => {
  const vol = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  const info = await d.sandboxes.create(T, { volumes: [{ id: vol.id, mountPath: "/data", accessMode: "rw" }] });
  await fakeOf(info.id).crash("init-exited");
  await waitFor(() => d.sandboxes.get(T, info.id).state === "stopped");
  assert.equal(d.sandboxes.get(T, info.id).stopReason, "init-exited");
  assert.equal(d.storage.references(vol.id), 0);
  await d.volumes.delete(T, vol.id, false); // not in use any more
});

test("a session sandbox stops when its last session closes; sessions hear why", async () => {
  const info = await d.sandboxes.create(T, { timeout: "session" });
  assert.equal(info.expiresAt, null);
  const a = sessionOut();
  const b = sessionOut();
  const first = d.sandboxes.openSession(T, info.id, a);
  const second = d.sandboxes.openSession(T, info.id, b);
  first.close();
  assert.equal(d.sandboxes.get(T, info.id).state, "running", "one session is still open");
  second.close();
  await waitFor(() => d.sandboxes.get(T, info.id).state === "stopped");
  assert.equal(d.sandboxes.get(T, info.id).stopReason, "session-closed");

  const other = await d.sandboxes.create(T, { timeout: "session" });
  const c = sessionOut();
  d.sandboxes.openSession(T, other.id, c);
  await d.sandboxes.kill(T, other.id);
  assert.equal(c.stoppedWith, "killed", "the open session was told before the processes died");
});

test("awaitEnding waits for a session sandbox whose last session closed, and leaves one that is not ending", async () => {
  const vol = await d.volumes.create(T, { name: "held", sizeGb: 1 });
  const ending = await d.sandboxes.create(T, { timeout: "session", volumes: [{ id: vol.id, mountPath: "/data", accessMode: "rw" }] });
  const timed = await d.sandboxes.create(T, { timeout: "5m" });
  d.sandboxes.openSession(T, ending.id, sessionOut()).close();
  await d.sandboxes.awaitEnding([ending.id, timed.id, "sbx_unknown"]);
  assert.equal(d.sandboxes.get(T, ending.id).state, "stopped", "resolved only once the stop finished");
  assert.equal(d.sandboxes.get(T, timed.id).state, "running");
  await d.volumes.delete(T, vol.id, false); // released by the stop
  await d.sandboxes.kill(T, timed.id);
});

test("a session sandbox nobody connects to stops after the grace period with reason session-never-connected", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const info = await d.sandboxes.create(T, { timeout: "session" });
  t.mock.timers.tick(29_000);
  assert.equal(d.sandboxes.get(T, info.id).state, "running");
  t.mock.timers.tick(1_000);
  t.mock.timers.reset();
  await waitFor(() => d.sandboxes.get(T, info.id).state === "stopped");
  assert.equal(d.sandboxes.get(T, info.id).stopReason, "session-never-connected");
});

test("a launch that fails leaves no sandbox, no reference and no attachment behind", async () => {
  const vol = await d.volumes.create(T, { name: "data", sizeGb: 1 });
  d.runtime.failNextLaunch(new ServerError("HOST_ERROR", "bwrap failed"));
  await assert.rejects(d.sandboxes.create(T, { volumes: [{ id: "data", mountPath: "/data", accessMode: "rw" }] }), { code: "HOST_ERROR" });
  assert.deepEqual(d.sandboxes.list(T, {}), []);
  assert.equal(d.storage.references(vol.id), 0);
  assert.deepEqual((await d.volumes.get(T, vol.id)).attachments, []);
  await d.volumes.delete(T, vol.id, false);
});

test("bad requests change nothing: unknown volume, two mounts at one path, memory out of range", async () => {
  await d.volumes.create(T, { name: "data", sizeGb: 1 });
  await d.volumes.create(T, { name: "data2", sizeGb: 1 });
  await assert.rejects(d.sandboxes.create(T, { volumes: [{ id: "nope", mountPath: "/x", accessMode: "rw" }] }), { code: "VOLUME_NOT_FOUND" });
  const twice = [
    { id: "data", mountPath: "/x", accessMode: "rw" },
    { id: "data2", mountPath: "/x", accessMode: "ro" },
  ];
  await assert.rejects(d.sandboxes.create(T, { volumes: twice }), { code: "INVALID_ARGUMENT" });
  await assert.rejects(d.sandboxes.create(T, { memory: "1TB", memoryMb: 5 }), { code: "INVALID_ARGUMENT" });
  await assert.rejects(d.sandboxes.create(T, { memoryMb: 1 }), { code: "INVALID_ARGUMENT" });
  await assert.rejects(d.sandboxes.create(T, { bogus: true }), { code: "INVALID_ARGUMENT" });
  assert.deepEqual(d.sandboxes.list(T, {}), []);
  assert.equal(d.runtime.sandboxes.size, 0, "the runtime was never asked");
  assert.deepEqual(
    d.storage.calls.filter((c) => c.startsWith("acquire")),
    [],
    "no volume was acquired",
  );
});

test("timeouts: extend a fixed one, refuse to extend a session one or beyond 7 days", async () => {
  const fixed = await d.sandboxes.create(T, { timeout: "5m" });
  const longer = await d.sandboxes.extendTimeout(T, fixed.id, { extendBy: "10m" });
  assert.ok(Date.parse(longer.expiresAt!) > Date.parse(fixed.expiresAt!));
  await assert.rejects(async () => d.sandboxes.extendTimeout(T, fixed.id, { timeout: "30d" }), { code: "INVALID_ARGUMENT" });
  const session = await d.sandboxes.create(T, { timeout: "session" });
  await assert.rejects(async () => d.sandboxes.extendTimeout(T, session.id, { extendBy: "1m" }), { code: "INVALID_ARGUMENT", message: /session/ });
  await d.sandboxes.kill(T, fixed.id);
  await assert.rejects(async () => d.sandboxes.extendTimeout(T, fixed.id, { extendBy: "1m" }), { code: "SANDBOX_NOT_RUNNING" });
});

test("quota: a tenant's sandbox limit counts running ones only; refused creates never reach the runtime", async () => {
  d.tokens.setQuota({ tenant: T, tokenId: "bootstrap", admin: true }, "team", { maxSandboxes: 1, maxVolumeGb: null });
  const first = await d.sandboxes.create("team", {});
  await assert.rejects(d.sandboxes.create("team", {}), { code: "QUOTA_EXCEEDED" });
  assert.equal(d.runtime.sandboxes.size, 1);
  await d.sandboxes.create(T, {}); // other tenants are not limited
  await d.sandboxes.kill("team", first.id);
  await d.sandboxes.create("team", {});
});

test("tenants: another tenant's sandbox does not exist for you (SANDBOX_NOT_FOUND, never a refusal)", async () => {
  const mine = await d.sandboxes.create("a", { labels: { who: "a" } });
  assert.throws(() => d.sandboxes.get("b", mine.id), { code: "SANDBOX_NOT_FOUND" });
  await assert.rejects(d.sandboxes.kill("b", mine.id), { code: "SANDBOX_NOT_FOUND" });
  assert.throws(() => d.sandboxes.patchEnv("b", mine.id, { set: { X: "1" } }), { code: "SANDBOX_NOT_FOUND" });
  assert.throws(() => d.sandboxes.openSession("b", mine.id, sessionOut()), { code: "SANDBOX_NOT_FOUND" });
  assert.deepEqual(d.sandboxes.list("b", {}), []);
  assert.equal(d.sandboxes.get("a", mine.id).state, "running", "untouched");
});

test("daemon shutdown stops every sandbox with reason daemon-shutdown", async () => {
  const a = await d.sandboxes.create(T, {});
  const b = await d.sandboxes.create("other", {});
  await d.sandboxes.shutdown();
  assert.equal(d.sandboxes.get(T, a.id).stopReason, "daemon-shutdown");
  assert.equal(d.sandboxes.get("other", b.id).stopReason, "daemon-shutdown");
  assert.deepEqual(d.runtime.running(), []);
});

/** Waits for an event the test caused (not a timing assertion: it only bounds a hang). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "the expected state change never came");
}
