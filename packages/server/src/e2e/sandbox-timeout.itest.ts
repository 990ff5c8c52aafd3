/**
 * A sandbox's timeout says what happened (issue 11, item 7). A command running when the timeout
 * expires fails with SANDBOX_NOT_RUNNING "stopped while the command was running: its timeout
 * (3s) expired", not "killed by SIGKILL"; commands started in the instants around the stop — on
 * the creator's session, on a second session, over HTTP — get "stopped: its timeout (3s)
 * expired", never INVALID_ARGUMENT.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AtollError, type Sandbox, SandboxNotRunningError } from "atoll";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const TIMEOUT = "3s";

function assertTimedOut(err: unknown, sandboxId: string, when: RegExp): void {
  assert.ok(err instanceof SandboxNotRunningError, `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  assert.equal(err.code, "SANDBOX_NOT_RUNNING");
  assert.equal(err.stopReason, "timeout");
  assert.equal(err.details?.timeout, TIMEOUT);
  assert.match(err.message, new RegExp(`^Sandbox ${sandboxId} stopped`));
  assert.match(err.message, when);
  assert.match(err.message, /its timeout \(3s\) expired/);
}

/** Runs `true` back to back until one fails; the failure. */
async function untilFailure(run: () => Promise<unknown>): Promise<unknown> {
  for (;;) {
    try {
      await run();
    } catch (err) {
      return err;
    }
  }
}

test("a command running when the timeout expires: stopped while it was running, its timeout (3s) expired", async () => {
  const sb = await ctx.client.createSandbox({ timeout: TIMEOUT });
  const err = await sb.sh`sleep 60`.then(
    () => assert.fail("sleep 60 outlived a 3 s sandbox"),
    (e: unknown) => e,
  );
  assertTimedOut(err, sb.id, /stopped while the command was running/);
  // Even with noThrow: the command did not exit, its sandbox ended.
  const sb2 = await ctx.client.createSandbox({ timeout: TIMEOUT });
  const err2 = await sb2.sh`sleep 60`.noThrow().then(
    (r) => assert.fail(`noThrow gave a status: ${JSON.stringify(r.status)}`),
    (e: unknown) => e,
  );
  assertTimedOut(err2, sb2.id, /while the command was running/);
  const info = await ctx.client.getSandbox(sb.id);
  assert.equal(info.stopReason, "timeout");
  await sb.close();
  await sb2.close();
});

test("commands started in the instants around the stop: SANDBOX_NOT_RUNNING naming the timeout on every path", async () => {
  const sb = await ctx.client.createSandbox({ timeout: TIMEOUT });
  const second: Sandbox = await ctx.client.connectSandbox(sb.id);
  // Commands back to back on both sessions and file operations over HTTP, until each fails.
  const failures = await Promise.all([
    untilFailure(() => sb.sh`true`),
    untilFailure(() => sb.sh`true`),
    untilFailure(() => second.sh`true`),
    untilFailure(() => sb.fs.stat("/")),
  ]);
  for (const err of failures) {
    assert.notEqual((err as AtollError).code, "INVALID_ARGUMENT", (err as Error).message);
    assertTimedOut(err, sb.id, /stopped(: | while the command was running: )its timeout/);
  }
  // And afterwards, on every path.
  assertTimedOut(await sb.sh`true`.catch((e: unknown) => e), sb.id, /stopped: its timeout \(3s\) expired; create a new sandbox/);
  assertTimedOut(await sb.fs.stat("/").catch((e: unknown) => e), sb.id, /stopped: its timeout \(3s\) expired; create a new sandbox/);
  assertTimedOut(await ctx.client.connectSandbox(sb.id).catch((e: unknown) => e), sb.id, /stopped: its timeout \(3s\) expired/);
  await sb.close();
  await second.close();
});

test("a killed sandbox says so too", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "5m" });
  const running = sb.sh`sleep 60`.catch((e: unknown) => e);
  await sb.sh`true`; // the sleep has been sent before the kill
  await sb.kill();
  const err = await running;
  assert.ok(err instanceof SandboxNotRunningError, String(err));
  assert.equal(err.stopReason, "killed");
  assert.match(err.message, /stopped while the command was running: it was killed/);
  assert.match(((await sb.sh`true`.catch((e: unknown) => e)) as Error).message, /stopped: it was killed/);
});
