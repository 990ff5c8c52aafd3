import assert from "node:assert/strict";
import { test } from "node:test";
import { daemonFooter, formatUptime } from "./daemon-footer.js";

test("uptime in its two largest units", () => {
  assert.equal(formatUptime(0), "0s");
  assert.equal(formatUptime(40.9), "40s");
  assert.equal(formatUptime(425), "7m 5s");
  assert.equal(formatUptime(7200), "2h");
  assert.equal(formatUptime(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
});

test("the footer says how the last restart went, escaped", () => {
  const base = { version: "0.1.0", schemaVersion: 6, pid: 1, startedAt: "2026-01-01T10:00:00.000Z", uptimeSeconds: 3700 };
  assert.match(daemonFooter({ ...base, previousRun: null }), /up 1h 1m .*first run on this state directory/);
  const clean = daemonFooter({
    ...base,
    previousRun: { version: "0.0.9", startedAt: "2026-01-01T09:00:00.000Z", endedAt: "2026-01-01T09:59:00.000Z", clean: true },
  });
  assert.match(clean, /last restart <time datetime="2026-01-01T10:00:00.000Z">2026-01-01 10:00:00 UTC<\/time>, after a clean stop at .*atoll 0\.0\.9/);
  const crash = daemonFooter({
    ...base,
    previousRun: { version: "<b>", startedAt: "2026-01-01T09:00:00.000Z", endedAt: "2026-01-01T09:59:00.000Z", clean: false },
  });
  assert.match(crash, /after a crash \(last seen <time/);
  assert.ok(!crash.includes("<b>"), "escaped");
});
