/**
 * A program's `Sandbox` object rides through a restart of the real daemon (issue 13, "Clients
 * ride through it"; docs/api.md, "Daemon restarts"): the command in flight fails with
 * DAEMON_RESTARTED, and the next command on the same object runs in the same sandbox once the
 * new daemon listens where the old one did — after kill -9 (a crash) and after SIGTERM (an
 * upgrade), with no call to connect again.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Client, DaemonRestartedError } from "atoll";
import { startTestDaemon, type TestDaemon } from "../testing/daemon-harness.js";

let daemon: TestDaemon | undefined;
after(async () => {
  if (!daemon) return;
  // Sandboxes outlive a daemon's stop: end them through the API before the last one goes.
  const client = new Client({ url: daemon.url, token: daemon.token });
  for (const s of await client.listSandboxes({ state: "running" }).catch(() => [])) await client.killSandbox(s.id).catch(() => undefined);
  await daemon.dispose();
});

for (const how of ["kill -9", "SIGTERM"] as const) {
  test(`after ${how}: the command in flight fails with DAEMON_RESTARTED, the next one runs in the same sandbox`, { timeout: 300_000 }, async () => {
    // Networking on (its namespace and netd are adopted too); sandboxes kept at SIGTERM, as `atoll serve` does.
    daemon ??= await startTestDaemon({ keepSandboxesOnExit: true });
    const client = new Client({ url: daemon.url, token: daemon.token });
    const sandbox = await client.createSandbox({ timeout: "10m" });
    await sandbox.sh`echo before > /tmp/marker`;
    // Its failure is taken at once: it arrives while the daemon is being stopped.
    const inFlight = sandbox.sh`sleep 60`.text().then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300)); // the sleep is running
    if (how === "kill -9") await daemon.crash();
    else await daemon.stop();
    const failure = await inFlight;
    assert.ok(failure instanceof DaemonRestartedError, `${how}: ${String(failure)}`);
    assert.equal(failure.code, "DAEMON_RESTARTED");
    // Sent while no daemon listens: it waits for the next one.
    const next = sandbox.sh`cat /tmp/marker`.text();
    daemon = await daemon.restart({ samePort: true });
    assert.equal((await next).trim(), "before", "the same sandbox, with its files");
    assert.equal((await sandbox.info()).state, "running");
    await sandbox.kill();
  });
}
