/**
 * Live restore (issue 13, docs/architecture.md "Live restore"): sandboxes keep running while the
 * daemon is down — after kill -9 and after SIGTERM — and the next daemon adopts them: processes,
 * scratch root, rw and ro volumes, timeouts (wall-clock). A sandbox whose timeout passed meanwhile
 * is ended with reason `timeout`; one whose shim died is stopped with `daemon-restart`; a pooled
 * shim does not outlive its daemon. Networking is off here: the network side adopts nothing yet
 * (sandboxes with networking are stopped with `daemon-restart`).
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, type Sandbox } from "atoll";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { hostFootprint } from "./e2e-helpers.js";

let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon({ net: { network: "off" }, keepSandboxesOnExit: true });
});
after(async () => {
  // This daemon leaves sandboxes running when it stops: end them first.
  const client = clientOf(daemon);
  for (const s of await client.listSandboxes().catch(() => [])) if (s.state === "running") await client.killSandbox(s.id).catch(() => undefined);
  await daemon?.dispose();
});

const clientOf = (d: TestDaemon) => new Client({ url: d.url, token: d.token });

/** Host pids of processes whose command line contains every one of `parts`. */
function processesWith(...parts: string[]): number[] {
  return commandLinesWith(...parts).map(([pid]) => pid);
}

/** [pid, command line] of the processes whose command line has every part: one scan of /proc. */
function commandLinesWith(...parts: string[]): [number, string][] {
  const out: [number, string][] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (parts.every((p) => cmd.includes(p))) out.push([Number(name), cmd]);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Largest gap (ms) between consecutive nanosecond timestamps in `text`, and the last one. */
function gaps(text: string): { largestMs: number; last: number; count: number } {
  const ts = text
    .split("\n")
    .filter((l) => /^\d+$/.test(l))
    .map((l) => Number(BigInt(l) / 1_000_000n));
  let largestMs = 0;
  for (let i = 1; i < ts.length; i++) largestMs = Math.max(largestMs, ts[i]! - ts[i - 1]!);
  return { largestMs, last: ts.at(-1) ?? 0, count: ts.length };
}

/** A sandbox with a rw and a ro volume and a process writing a timestamp every 100 ms. */
async function busySandbox(client: Client, name: string, timeout: string): Promise<{ sb: Sandbox; rw: string; ro: string }> {
  const rw = await client.createVolume({ name: `${name}-rw`, sizeGb: 0.25 });
  const ro = await client.createVolume({ name: `${name}-ro`, sizeGb: 0.25 });
  {
    await using seed = await client.createSandbox({ volumes: [{ id: ro.id, mountPath: "/seed" }] });
    await seed.sh`echo seeded > /seed/file`;
  }
  const sb = await client.createSandbox({
    timeout,
    volumes: [
      { id: rw.id, mountPath: "/rw" },
      { id: ro.id, mountPath: "/ro", accessMode: "ro" },
    ],
  });
  await sb.sh`echo before > /rw/before`;
  // A process of the sandbox's process table (adopted with it), writing nothing to its channel.
  await sb.spawn("sh", { args: ["-c", "while :; do date +%s%N >> /rw/ts; sleep 0.1; done"], stdout: "null", stderr: "null" });
  await waitFor("the timestamp writer", async () => gaps(await sb.sh`cat /rw/ts 2>/dev/null || true`.text()).count >= 3);
  return { sb, rw: rw.id, ro: ro.id };
}

/** The adopted sandbox works through a new SDK connection, with both volumes as they were. */
async function checkAdopted(client: Client, id: string, downAt: number): Promise<void> {
  const info = await client.getSandbox(id);
  assert.equal(info.state, "running", `adopted: ${JSON.stringify(info)}`);
  const sb = await client.connectSandbox(id);
  await sb.sh`true`;
  // lxcfs outlived the daemon too: the sandbox still reads its own /proc/meminfo.
  assert.match((await sb.sh`head -1 /proc/meminfo`.text()).trimEnd(), /^MemTotal:\s+\d+ kB$/);
  assert.equal((await sb.sh`cat /rw/before`.text()).trimEnd(), "before");
  assert.equal((await sb.sh`cat /ro/file`.text()).trimEnd(), "seeded");
  await sb.sh`echo after > /rw/after && cat /rw/after`;
  const ro = await sb.sh`touch /ro/x 2>&1; echo rc=$?`.noThrow().text();
  assert.match(ro, /Read-only file system/);
  await sleep(1000);
  const g = gaps(await sb.sh`cat /rw/ts`.text());
  console.log(`largest gap in the timestamps around the restart: ${g.largestMs} ms (${g.count} timestamps)`);
  assert.ok(g.last > downAt, "the writer kept writing through the restart");
  await sb.close();
}

async function cleanUp(client: Client, id: string, volumes: string[]): Promise<void> {
  await client.killSandbox(id);
  for (const v of volumes) await client.deleteVolume(v);
  assert.deepEqual(hostFootprint(daemon.stateDir), { loops: [], mounts: [] }, "nothing of the sandbox or its volumes is left");
}

test("after kill -9 the next daemon adopts a running sandbox, and its timeout fires at the original deadline", async () => {
  let client = clientOf(daemon);
  const { sb, rw, ro } = await busySandbox(client, "crash", "45s");
  const expiresAt = Date.parse((await client.getSandbox(sb.id)).expiresAt!);
  const downAt = Date.now();
  await daemon.crash();
  await sleep(2000);
  daemon = await daemon.restart();
  client = clientOf(daemon);
  assert.ok(
    daemon.logs.some((l) => l.includes("adopted 1 sandbox, 2 volumes")),
    "the start reports what it adopted",
  );
  await checkAdopted(client, sb.id, downAt);
  const info = await (await fetch(`${daemon.url}/v1/daemon`, { headers: { authorization: `Bearer ${daemon.token}` } })).json();
  assert.equal((info as { adoption: { sandboxes: number } }).adoption.sandboxes, 1);
  // The timeout is wall-clock: it fires at the deadline set before the crash.
  await waitFor("the timeout", async () => (await client.getSandbox(sb.id)).state === "stopped", expiresAt - Date.now() + 60_000);
  const stopped = await client.getSandbox(sb.id);
  assert.equal(stopped.stopReason, "timeout");
  console.log(`timeout fired ${Date.parse(stopped.stoppedAt!) - expiresAt} ms after the original deadline`);
  assert.ok(Date.parse(stopped.stoppedAt!) >= expiresAt - 1000, "not before its deadline");
  for (const v of [rw, ro]) await client.deleteVolume(v);
  assert.deepEqual(hostFootprint(daemon.stateDir), { loops: [], mounts: [] });
});

test("after SIGTERM the sandbox keeps running and the next daemon adopts it", async () => {
  let client = clientOf(daemon);
  const { sb, rw, ro } = await busySandbox(client, "term", "10m");
  const downAt = Date.now();
  assert.equal(await daemon.stop(), 0, "SIGTERM gives a clean exit");
  await sleep(2000);
  daemon = await daemon.restart();
  client = clientOf(daemon);
  await checkAdopted(client, sb.id, downAt);
  await cleanUp(client, sb.id, [rw, ro]);
});

test('a "session" sandbox survives SIGTERM; its grace period starts when the daemon is back', async () => {
  let client = clientOf(daemon);
  const sb = await client.createSandbox({ timeout: "session" });
  await sb.sh`true`;
  assert.equal(await daemon.stop(), 0);
  await sb.close().catch(() => undefined); // its connection is gone with the daemon
  await sleep(2000);
  daemon = await daemon.restart();
  client = clientOf(daemon);
  assert.equal((await client.getSandbox(sb.id)).state, "running", "its session closed with the daemon, not by its client");
  const again = await client.connectSandbox(sb.id);
  await again.sh`true`;
  await again.close();
  await waitFor("the session sandbox to end with its last session", async () => (await client.getSandbox(sb.id)).state === "stopped");
  assert.equal((await client.getSandbox(sb.id)).stopReason, "session-closed");
});

test("a sandbox whose timeout passed while the daemon was down is ended on adoption with reason timeout", async () => {
  let client = clientOf(daemon);
  const vol = await client.createVolume({ name: "expired", sizeGb: 0.25 });
  const sb = await client.createSandbox({ timeout: "4s", volumes: [{ id: vol.id, mountPath: "/v" }] });
  await daemon.crash();
  await sleep(5000);
  daemon = await daemon.restart();
  client = clientOf(daemon);
  const info = await client.getSandbox(sb.id);
  assert.equal(info.state, "stopped");
  assert.equal(info.stopReason, "timeout");
  assert.ok(daemon.logs.some((l) => l.includes("ended 1 whose timeout passed")));
  await client.deleteVolume(vol.id);
  assert.deepEqual(hostFootprint(daemon.stateDir), { loops: [], mounts: [] });
  // One scan: the warm pool may start a pooled shim at any moment (those wait for a sandbox).
  const sandboxShims = commandLinesWith("atoll-shim", daemon.stateDir).filter(([, cmd]) => !cmd.includes("--wait-args"));
  assert.deepEqual(sandboxShims, [], "no sandbox shim left");
});

test("a sandbox whose shim was killed is stopped with daemon-restart; a pooled shim does not outlive its daemon", async () => {
  let client = clientOf(daemon);
  const sb = await client.createSandbox({ timeout: "10m" });
  const { shimPid } = JSON.parse(readFileSync(join(daemon.stateDir, "shims", `${sb.id}.json`), "utf8")) as { shimPid: number };
  const pooled = processesWith("atoll-shim", daemon.stateDir, "--wait-args");
  assert.ok(pooled.length > 0, "the launcher pool runs under shims");
  await daemon.crash();
  process.kill(shimPid, "SIGKILL");
  await waitFor("the pooled shims to end with their daemon", () => pooled.every((p) => !processesWith("atoll-shim", "--wait-args").includes(p)));
  daemon = await daemon.restart();
  client = clientOf(daemon);
  const info = await client.getSandbox(sb.id);
  assert.equal(info.state, "stopped");
  assert.equal(info.stopReason, "daemon-restart");
  assert.deepEqual(hostFootprint(daemon.stateDir), { loops: [], mounts: [] });
});

test("figure: a restart with 20 running sandboxes, until every one answers sh`true`", async () => {
  let client = clientOf(daemon);
  const N = 20;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push((await client.createSandbox({ timeout: "10m" })).id);
  await daemon.crash();
  const t0 = performance.now();
  daemon = await daemon.restart();
  client = clientOf(daemon);
  const up = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      const sb = await client.connectSandbox(id);
      await sb.sh`true`;
      await sb.close();
    }),
  );
  const all = performance.now();
  console.log(
    `live restore: ${N} sandboxes answer sh\`true\` ${Math.round(all - t0)} ms after the new daemon was started (${Math.round(up - t0)} ms until it listened)`,
  );
  for (const id of ids) await client.killSandbox(id);
  assert.deepEqual(hostFootprint(daemon.stateDir), { loops: [], mounts: [] });
});
