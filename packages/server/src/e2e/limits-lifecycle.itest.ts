/** Memory, pids and disk limits, timeouts and the sandbox lifecycle, through the SDK. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CommandError } from "atoll";
import { expectCode, useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

test("a command killed by the memory limit reports oom: true; the sandbox lives on", async () => {
  await using sb = await ctx.client.createSandbox({ memory: "128MiB" });
  const r = await sb.sh`python3 -c ${"x = bytearray(512 * 1024 * 1024); print(len(x))"}`.noThrow();
  assert.equal(r.status.success, false);
  assert.equal(r.status.oom, true);
  assert.equal(r.status.code, 137); // sh reports its child's SIGKILL as 128 + 9
  try {
    await sb.sh`python3 -c ${"x = bytearray(512 * 1024 * 1024)"}`;
    assert.fail("should throw");
  } catch (err) {
    assert.ok(err instanceof CommandError && err.oom, String(err));
    assert.match(err.message, /memory limit/);
  }
  assert.equal((await sb.sh`echo alive`.text()).trimEnd(), "alive");
  assert.equal((await sb.info()).memoryBytes, 128 * 2 ** 20);
});

test("a fork bomb is contained by the pids limit", async () => {
  await using sb = await ctx.client.createSandbox({ pids: 64 });
  const r = await sb.sh`sh -c ${"for i in $(seq 300); do sleep 60 & done; wait"}`.timeout(20_000).noThrow();
  assert.match(r.stderrText, /fork|Resource temporarily unavailable|Cannot fork/i);
  await sb.kill();
});

test("the writable root filesystem is capped: filling / or /tmp gets ENOSPC", async () => {
  await using sb = await ctx.client.createSandbox({ rootfsSize: "128MiB" });
  for (const dir of ["/home/app", "/tmp"]) {
    const r = await sb.sh`dd if=/dev/zero of=${dir}/fill bs=1M count=300`.noThrow();
    assert.match(r.stderrText, /No space left on device/, dir);
    await sb.sh`rm -f ${dir}/fill`;
  }
});

test("a timed sandbox dies at its timeout with reason 'timeout'", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "2s" });
  assert.ok((await sb.info()).expiresAt);
  await new Promise((r) => setTimeout(r, 3000));
  const info = await ctx.client.getSandbox(sb.id);
  assert.equal(info.state, "stopped");
  assert.equal(info.stopReason, "timeout");
  await expectCode(sb.sh`true`, "SANDBOX_NOT_RUNNING");
  await sb.close();
});

test("a timed sandbox survives its creator disconnecting; connect() reattaches and sees the same processes", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "1m", labels: { suite: "lifecycle" } });
  await sb.sh`sh -c 'sleep 120 & echo $! > /tmp/bg.pid'`;
  await sb.close();
  const again = await ctx.client.connectSandbox(sb.id);
  const pid = (await again.sh`cat /tmp/bg.pid`.text()).trimEnd();
  assert.equal((await again.sh`ps -o comm= -p ${pid}`.text()).trimEnd(), "sleep");
  await again.sh`kill ${pid}`;
  assert.deepEqual(
    (await ctx.client.listSandboxes({ labels: { suite: "lifecycle" } })).map((s) => s.id),
    [sb.id],
  );
  await again.kill();
  assert.equal((await ctx.client.getSandbox(sb.id)).stopReason, "killed");
});

test("bad limits and timeouts are refused before anything is created", async () => {
  const before = (await ctx.client.listSandboxes()).length;
  for (const [options, pattern] of [
    [{ memory: "12XB" }, /memory/],
    [{ memory: "64TiB" }, /memory/],
    [{ memory: 1 }, /memory/],
    [{ timeout: "forever" }, /timeout/],
    [{ timeout: "-5s" }, /timeout/],
    [{ pids: 1 }, /pids/],
    [{ colour: "blue" }, /colour/],
  ] as const) {
    const err = await expectCode(ctx.client.createSandbox(options as never), "INVALID_ARGUMENT");
    assert.match(err.message, pattern);
  }
  await expectCode(ctx.client.getSandbox("sbx_nope"), "SANDBOX_NOT_FOUND");
  assert.equal((await ctx.client.listSandboxes()).length, before);
});
