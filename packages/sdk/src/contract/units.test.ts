import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, parseDuration, parseSize } from "./units.js";

test("sizes: bytes and binary/decimal units", () => {
  const ok: [unknown, number][] = [
    [1048576, 1048576],
    ["1GiB", 2 ** 30],
    ["512MiB", 512 * 2 ** 20],
    ["2GB", 2e9],
    ["1280 MiB", 1280 * 2 ** 20],
    ["1.5gib", 1.5 * 2 ** 30],
    ["4096", 4096],
    ["10KB", 10_000],
  ];
  for (const [input, bytes] of ok) assert.deepEqual(parseSize(input), { ok: true, value: bytes }, String(input));
});

test("sizes: unknown units, negatives, zero and non-numbers are refused with a reason", () => {
  for (const input of ["12XB", "-1GiB", "0", 0, -5, 1.5, "GiB", "", "1 G i B", null, {}, Number.NaN]) {
    const r = parseSize(input);
    assert.equal(r.ok, false, String(input));
    if (!r.ok) assert.match(r.error, /\S/);
  }
});

test("durations: units, compounds and milliseconds", () => {
  const ok: [unknown, number][] = [
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1d", 86_400_000],
    [2500, 2500],
  ];
  for (const [input, ms] of ok) assert.deepEqual(parseDuration(input), { ok: true, value: ms }, String(input));
});

test("durations: malformed ones are refused", () => {
  for (const input of ["5", "5 m", "m5", "-5s", "0s", "1.5h", "soon", "", 0, -1, 1.5, null]) {
    assert.equal(parseDuration(input).ok, false, String(input));
  }
});

test("formatBytes", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(2 ** 30), "1.00 GiB");
  assert.equal(formatBytes(5 * 2 ** 30 + 2 ** 29), "5.50 GiB");
});
