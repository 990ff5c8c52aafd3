import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { CommandLogRepo } from "../store/command-log-repo.js";
import { openDatabase } from "../store/database.js";
import { CommandLog, commandText } from "./command-log.js";

const dir = mkdtempSync(join(tmpdir(), "atoll-cmdlog-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: "silent" });

function fresh(keepPerSandbox?: number) {
  const db = openDatabase(join(dir, `${Math.random().toString(36).slice(2)}.db`));
  return { db, log: new CommandLog({ repo: new CommandLogRepo(db), logger, keepPerSandbox }) };
}

test("commandText shows the script of sh -c and quotes other argv", () => {
  assert.equal(commandText(["/bin/sh", "-c", "echo hi > /tmp/x"]), "echo hi > /tmp/x");
  assert.equal(commandText(["ls", "-la", "my dir"]), "ls -la 'my dir'");
  const long = commandText(["/bin/sh", "-c", "x".repeat(5000)]);
  assert.equal(long.length, 2000);
  assert.ok(long.endsWith("…"));
});

test("a command is logged at spawn and completed at exit, newest first", () => {
  const { db, log } = fresh();
  const changes: string[] = [];
  log.onChange((id) => changes.push(id));
  const rec = log.recorder("sbx_a");
  const first = rec.started(["/bin/sh", "-c", "true"], "app");
  const second = rec.started(["sleep", "1"], "root");
  let entries = log.list("sbx_a");
  assert.deepEqual(
    entries.map((e) => [e.seq, e.command, e.user, e.durationMs]),
    [
      [2, "sleep 1", "root", null],
      [1, "true", "app", null],
    ],
  );
  first({ code: 0, signal: null, oom: false });
  second({ code: null, signal: "SIGKILL", oom: true });
  second({ code: 5, signal: null, oom: false }); // a second end is ignored
  entries = log.list("sbx_a");
  assert.equal(entries[0]!.signal, "SIGKILL");
  assert.equal(entries[0]!.oom, true);
  assert.equal(entries[0]!.exitCode, null);
  assert.equal(entries[1]!.exitCode, 0);
  assert.ok(entries.every((e) => typeof e.durationMs === "number"));
  assert.equal(changes.length, 4);
  assert.deepEqual(log.list("sbx_other"), []);
  db.close();
});

test("a spawn failure is recorded with no exit code and no signal", () => {
  const { db, log } = fresh();
  log.recorder("sbx_b").started(["/nope"], "app")({ spawnError: "No such file or directory" });
  const [e] = log.list("sbx_b");
  assert.equal(e!.exitCode, null);
  assert.equal(e!.signal, null);
  assert.equal(typeof e!.durationMs, "number");
  db.close();
});

test("each sandbox keeps only its newest entries, and sequence numbers survive forget()", () => {
  const { db, log } = fresh(150);
  const rec = log.recorder("sbx_c");
  for (let i = 0; i < 300; i++) rec.started(["true"], "app")({ code: 0, signal: null, oom: false });
  log.forget("sbx_c");
  log.recorder("sbx_c").started(["true"], "app");
  const all = log.list("sbx_c", 1000);
  assert.equal(all[0]!.seq, 301);
  assert.ok(all.length <= 251 && all.length >= 150, `kept ${all.length}`);
  db.close();
});

test("retention drops the logs of sandboxes stopped before the cut-off", () => {
  const { db, log } = fresh();
  const insert = db.prepare(
    `INSERT INTO sandboxes (id, state, created_at, stopped_at, timeout, memory_bytes, pids, cpu_weight, rootfs_bytes)
     VALUES (?, ?, '2020-01-01T00:00:00.000Z', ?, 'session', 1, 1, 1, 1)`,
  );
  insert.run("sbx_old", "stopped", "2020-01-02T00:00:00.000Z");
  insert.run("sbx_live", "running", null);
  log.recorder("sbx_old").started(["true"], "app");
  log.recorder("sbx_live").started(["true"], "app");
  assert.equal(log.pruneStopped(new Date("2021-01-01T00:00:00Z")), 1);
  assert.equal(log.list("sbx_old").length, 0);
  assert.equal(log.list("sbx_live").length, 1);
  db.close();
});

test("the values of a sandbox's secrets are never stored, also as sandbox.sh quotes them", () => {
  const { db, log } = fresh();
  log.protect("sbx_s", ["s3cr3t-value", "it's-secret"]);
  const rec = log.recorder("sbx_s");
  rec.started(["/bin/sh", "-c", "curl -H 'Authorization: Bearer s3cr3t-value' https://x"], "app");
  rec.started(["/bin/sh", "-c", `echo 'it'"'"'s-secret'`], "app");
  rec.started(["printenv", "s3cr3t-value"], "app");
  rec.started(["/bin/sh", "-c", "echo s3cr3t-value"], "app");
  log.recorder("sbx_other").started(["echo", "s3cr3t-value"], "app");
  const commands = log.list("sbx_s").map((e) => e.command);
  assert.deepEqual(commands, ["echo [secret]", "printenv '[secret]'", "echo '[secret]'", "curl -H 'Authorization: Bearer [secret]' https://x"]);
  assert.deepEqual(
    log.list("sbx_other").map((e) => e.command),
    ["echo s3cr3t-value"],
    "only that sandbox's secrets are its",
  );
  log.forget("sbx_s");
  rec.started(["echo", "s3cr3t-value"], "app");
  assert.equal(log.list("sbx_s")[0]!.command, "echo s3cr3t-value", "forgotten with the sandbox");
  db.close();
});
