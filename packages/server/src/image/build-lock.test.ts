import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { acquireLock } from "./build-lock.js";

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "atoll-lock-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a second holder waits until the first releases", async (t) => {
  const path = join(tempDir(t), "build.lock");
  const first = await acquireLock(path);
  assert.equal(readFileSync(path, "utf8").trim(), String(process.pid));
  const order: string[] = [];
  let waitedFor: number | null = null;
  const second = acquireLock(path, { pollMs: 10, onWait: (pid) => (waitedFor = pid) }).then((lock) => {
    order.push("second acquired");
    return lock;
  });
  await new Promise((r) => setTimeout(r, 50));
  order.push("first released");
  first.release();
  const lock = await second;
  assert.deepEqual(order, ["first released", "second acquired"]);
  assert.equal(waitedFor, process.pid);
  lock.release();
  lock.release(); // idempotent
  assert.equal(existsSync(path), false);
});

test("a lock left by a dead process is broken", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "build.lock");
  // A pid that surely does not exist any more: a child that already exited.
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  writeFileSync(path, `${dead.stdout}\n`);
  const lock = await acquireLock(path, { pollMs: 10, timeoutMs: 5000 });
  assert.equal(readFileSync(path, "utf8").trim(), String(process.pid));
  lock.release();
  assert.equal(existsSync(path), false);
  assert.equal(existsSync(`${path}.stale.${process.pid}`), false);
});

test("waiting for a live holder times out", async (t) => {
  const path = join(tempDir(t), "build.lock");
  const held = await acquireLock(path);
  t.after(() => held.release());
  await assert.rejects(acquireLock(path, { pollMs: 5, timeoutMs: 30 }), /timed out waiting for lock/);
});
