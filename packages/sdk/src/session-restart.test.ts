/**
 * A `Sandbox` object rides through a daemon restart (docs/api.md, "Daemon restarts"): the
 * command in flight fails with DAEMON_RESTARTED, the next one works once the daemon is back, on
 * the same object, with no call to connect again. Against the SDK's fake daemon, whose restart
 * drops every socket and refuses connections for a while; the real daemon's restart is tested
 * in packages/server (e2e).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConnectionError, DaemonRestartedError, Sandbox, SandboxNotRunningError } from "./index.js";
import { type FakeDaemon, startFakeDaemon } from "./testing/fake-daemon.js";

describe("a daemon restart under a running program", () => {
  let daemon: FakeDaemon;
  let conn: { url: string; token: string };
  before(async () => {
    daemon = await startFakeDaemon();
    conn = { url: daemon.url, token: daemon.token };
  });
  after(() => daemon?.stop());

  for (const closeCode of [1006, 1012] as const) {
    test(`close code ${closeCode}: the running command fails with DAEMON_RESTARTED, the next one works`, async () => {
      await using sandbox = await Sandbox.create({ ...conn, timeout: "5m" });
      const spawnsBefore = daemon.spawnCount();
      const running = sandbox.sh`sleep`.text();
      // Let the spawn reach the daemon before it goes away.
      while (daemon.spawnCount() === spawnsBefore) await new Promise((r) => setTimeout(r, 5));
      const restarted = daemon.restart(300, closeCode);
      await assert.rejects(running, (e: unknown) => {
        assert.ok(e instanceof DaemonRestartedError, String(e));
        assert.ok(e instanceof ConnectionError, "a DaemonRestartedError is a ConnectionError");
        assert.equal(e.code, "DAEMON_RESTARTED");
        assert.match(e.message, /daemon restarted or the network failed.*new commands on this Sandbox work once the daemon is back/s);
        return true;
      });
      // Sent while the port still refuses connections: it waits for the daemon.
      const next = sandbox.sh`print:back`.text();
      await restarted;
      assert.equal(await next, "back");
      assert.equal(await sandbox.sh`print:again`.text(), "again");
    });
  }

  test("HTTP calls of a client that reached the daemon before wait for it to come back", async () => {
    await using sandbox = await Sandbox.create({ ...conn, timeout: "5m" });
    const restarted = daemon.restart(300);
    await new Promise((r) => setTimeout(r, 50)); // the port refuses now
    const info = await sandbox.info();
    assert.equal(info.state, "running");
    await restarted;
  });

  test("a sandbox that stopped while the daemon was away ends the session with its reason", async () => {
    const sandbox = await Sandbox.create({ ...conn, timeout: "5m" });
    const restarted = daemon.restart(200);
    await restarted;
    // Killed through another client while our socket was down.
    await (await Sandbox.connect(sandbox.id, conn)).kill();
    await assert.rejects(sandbox.sh`print:x`.text(), (e: unknown) => {
      assert.ok(e instanceof SandboxNotRunningError, String(e));
      assert.equal(e.stopReason, "killed");
      return true;
    });
  });

  test("close() while the socket is down ends the session without waiting for the daemon", async () => {
    const sandbox = await Sandbox.connect((await Sandbox.create({ ...conn, timeout: "5m" })).id, conn);
    const restarted = daemon.restart(500);
    await new Promise((r) => setTimeout(r, 50));
    const first = await Promise.race([sandbox.close().then(() => "closed"), restarted.then(() => "daemon back")]);
    assert.equal(first, "closed", "close() does not wait for the daemon");
    await restarted;
    await assert.rejects(sandbox.sh`print:x`.text(), ConnectionError);
  });
});
