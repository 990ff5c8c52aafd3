import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePairs } from "./client-action.js";
import { exitCodeOf, parseVolumeFlag } from "./sandbox-commands.js";
import { formatTable, timeAgo } from "./table-format.js";

test("--volume NAME:/path[:ro|:rw]", () => {
  assert.deepEqual(parseVolumeFlag("cache:/mnt/cache"), { id: "cache", mountPath: "/mnt/cache", accessMode: "rw" });
  assert.deepEqual(parseVolumeFlag("vol_1:/data:ro"), { id: "vol_1", mountPath: "/data", accessMode: "ro" });
  assert.deepEqual(parseVolumeFlag("v:/a:b:rw"), { id: "v", mountPath: "/a:b", accessMode: "rw" });
  for (const bad of ["cache", ":/mnt", "cache:mnt", "cache:"]) assert.throws(() => parseVolumeFlag(bad), { code: "INVALID_ARGUMENT" });
});

test("KEY=VALUE pairs keep everything after the first =", () => {
  assert.deepEqual(parsePairs(["a=1", "b=x=y", "c="], "--label"), { a: "1", b: "x=y", c: "" });
  assert.throws(() => parsePairs(["novalue"], "--label"), /--label "novalue" must look like KEY=VALUE/);
  assert.throws(() => parsePairs(["=v"], "--env"), { code: "INVALID_ARGUMENT" });
});

test("exit codes: the code, or 128 + signal number", () => {
  assert.equal(exitCodeOf({ code: 0, signal: null }), 0);
  assert.equal(exitCodeOf({ code: 7, signal: null }), 7);
  assert.equal(exitCodeOf({ code: null, signal: "SIGTERM" }), 143);
  assert.equal(exitCodeOf({ code: null, signal: "SIGKILL" }), 137);
  assert.equal(exitCodeOf({ code: null, signal: "SIGWHAT" }), 1);
});

test("tables align columns; times read as ago / in", () => {
  assert.equal(
    formatTable(
      ["A", "LONGER"],
      [
        ["xyz", "1"],
        ["q", ""],
      ],
    ),
    "A    LONGER\nxyz  1\nq",
  );
  const now = Date.parse("2025-01-01T12:00:00Z");
  assert.equal(timeAgo(null, now), "never");
  assert.equal(timeAgo("2025-01-01T11:59:30Z", now), "30s ago");
  assert.equal(timeAgo("2025-01-01T11:00:00Z", now), "1h ago");
  assert.equal(timeAgo("2024-12-29T12:00:00Z", now), "3d ago");
  assert.equal(timeAgo("2025-01-01T12:05:00Z", now), "in 5m");
});
