import assert from "node:assert/strict";
import { test } from "node:test";
import { openDatabase } from "../store/database.js";
import { DaemonRunRepo } from "../store/daemon-run-repo.js";
import { DaemonRuns } from "./daemon-runs.js";

/** A clock the test moves. */
function clock(start: string) {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

const opts = (now: () => Date) => ({ version: "0.1.0", schemaVersion: 6, now, heartbeatMs: 3_600_000 });

test("a daemon run knows its uptime and how the previous run ended: none, clean stop, crash", () => {
  const db = openDatabase(":memory:");
  const repo = new DaemonRunRepo(db);
  const c = clock("2026-01-01T00:00:00.000Z");

  const first = DaemonRuns.begin(repo, opts(c.now));
  assert.equal(first.info().previousRun, null);
  c.advance(90_500);
  assert.equal(first.info().uptimeSeconds, 90);
  assert.equal(first.info().startedAt, "2026-01-01T00:00:00.000Z");
  first.stop();

  c.advance(10_000);
  const second = DaemonRuns.begin(repo, opts(c.now));
  assert.deepEqual(second.info().previousRun, { version: "0.1.0", startedAt: "2026-01-01T00:00:00.000Z", endedAt: "2026-01-01T00:01:30.500Z", clean: true });
  // Killed: no stop recorded; its last heartbeat stands for its end.
  c.advance(60_000);
  repo.heartbeat(repo.latest()!.id, c.now().toISOString());
  c.advance(5_000);
  const third = DaemonRuns.begin(repo, opts(c.now));
  assert.deepEqual(third.info().previousRun, { version: "0.1.0", startedAt: "2026-01-01T00:01:40.500Z", endedAt: "2026-01-01T00:02:40.500Z", clean: false });
  second.stop(); // (stops its timer; a real killed daemon has none)
  third.stop();
  db.close();
});
