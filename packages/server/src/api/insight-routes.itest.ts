/** GET /v1/sandboxes/:id/stats, /v1/sandboxes/:id/commands and /v1/volumes/:id/usage against a real daemon. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CommandLogList, SandboxStats, VolumeUsageHistory } from "atoll/contract";
import { useDaemon } from "../e2e/e2e-helpers.js";

process.env.ATOLL_USAGE_SAMPLE_INTERVAL = "1s";
const ctx = useDaemon();

async function get<T>(path: string, expectStatus = 200): Promise<T> {
  const res = await fetch(`${ctx.daemon.url}${path}`, { headers: { authorization: `Bearer ${ctx.daemon.token}` } });
  const body = (await res.json()) as T;
  assert.equal(res.status, expectStatus, `${path}: ${JSON.stringify(body)}`);
  return body;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("the command log records each command with user, exit code, signal and duration; stats are live", async () => {
  await using sb = await ctx.client.createSandbox({ memory: "256MiB" });
  await sb.sh`echo hello`;
  await sb.sh`exit 3`.noThrow();
  await sb.sh`id -u`.sudo();
  await sb.sh`kill -9 $$`.noThrow();
  const { commands } = await get<CommandLogList>(`/v1/sandboxes/${sb.id}/commands`);
  assert.deepEqual(
    commands.map((c) => [c.seq, c.command, c.user, c.exitCode, c.signal]),
    [
      [4, "kill -9 $$", "app", null, "SIGKILL"],
      [3, "id -u", "root", 0, null],
      [2, "exit 3", "app", 3, null],
      [1, "echo hello", "app", 0, null],
    ],
  );
  assert.ok(commands.every((c) => typeof c.durationMs === "number" && c.durationMs >= 0 && !Number.isNaN(Date.parse(c.startedAt))));
  assert.equal((await get<CommandLogList>(`/v1/sandboxes/${sb.id}/commands?limit=1`)).commands.length, 1);
  await get(`/v1/sandboxes/${sb.id}/commands?limit=0`, 400);

  const stats = await get<SandboxStats>(`/v1/sandboxes/${sb.id}/stats`);
  assert.equal(stats.sandboxId, sb.id);
  assert.equal(stats.memoryLimitBytes, 256 * 2 ** 20);
  assert.ok(stats.memoryBytes > 0 && stats.cpuUsageNs > 0 && stats.pids >= 1, JSON.stringify(stats));

  await sb.kill();
  await get(`/v1/sandboxes/${sb.id}/stats`, 409);
  assert.equal((await get<CommandLogList>(`/v1/sandboxes/${sb.id}/commands`)).commands.length, 4, "the log outlives the sandbox");
  await get(`/v1/sandboxes/sbx_nope/commands`, 404);
});

test("volume usage is sampled over time, with the live figure last", async () => {
  const volume = await ctx.client.createVolume({ name: "sampled", sizeGb: 0.25 });
  await using sb = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
  const before = await until("a first sample", async () => {
    const h = await get<VolumeUsageHistory>(`/v1/volumes/${volume.id}/usage`);
    return h.samples.length >= 2 ? h : undefined;
  });
  assert.equal(before.volumeId, volume.id);
  assert.equal(before.capacityBytes, volume.capacityBytes);
  const base = before.samples[0]!.usedBytes;
  await sb.sh`head -c 20000000 /dev/urandom > /data/blob`;
  const after = await until("a sample with the new data", async () => {
    const h = await get<VolumeUsageHistory>(`/v1/volumes/sampled/usage?since=1h`);
    const stored = h.samples.slice(0, -1);
    return stored.some((s) => s.usedBytes >= base + 19_000_000) ? h : undefined;
  });
  const times = after.samples.map((s) => Date.parse(s.at));
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    "oldest first",
  );
  await get(`/v1/volumes/${volume.id}/usage?since=yesterday`, 400);
  await sb.kill();
  await ctx.client.deleteVolume(volume.id);
  await get(`/v1/volumes/${volume.id}/usage`, 404);
});
