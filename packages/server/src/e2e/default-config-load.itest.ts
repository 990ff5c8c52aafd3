/**
 * Plain sequential use of the default configuration (`npm start`: uplink `host`, DNS `host`,
 * log level info) in a fake host: 300 sandboxes created one after another, each kept running,
 * must all start. This once failed at the 21st to 178th sandbox with "atoll-init did not become
 * ready" after 15 s: a pooled launcher was handed out before it had joined its cgroup, died of
 * ENOENT when the take renamed that cgroup, and its death went unnoticed
 * (runtime/launcher-pool.ts). Test daemons at log level debug never hit it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, type Sandbox } from "atoll";
import { startTestDaemon } from "../testing/daemon-harness.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { startFakeHost } from "../testing/fake-host.js";
import { TABLE } from "./network-helpers.js";

const LIVE = 300;

test(`${LIVE} sandboxes created one after another and kept running all start in the default configuration`, async () => {
  const host = await startFakeHost(TABLE);
  const daemon = await startTestDaemon({ host }).catch(async (err: unknown) => {
    await host.dispose();
    throw err;
  });
  const client = new Client({ url: daemon.url, token: daemon.token });
  const live: Sandbox[] = [];
  try {
    for (let i = 0; i < LIVE; i++) {
      try {
        live.push(await client.createSandbox({ timeout: "15m", memory: "256MiB" }));
      } catch (err) {
        assert.fail(`sandbox ${i + 1} of ${LIVE} failed to start: ${(err as Error).message}`);
      }
    }
    for (const sb of [live[0]!, live[LIVE - 1]!]) assert.equal((await sb.sh`echo alive`.text()).trim(), "alive");
  } finally {
    for (const sb of live) await sb.kill().catch(() => undefined);
    const code = await daemon.stop();
    const left = [...(await host.leftovers()), ...machineLeftovers(daemon.stateDir)];
    await daemon.dispose();
    await host.dispose();
    assert.equal(code, 0);
    assert.deepEqual(left, []);
  }
});
