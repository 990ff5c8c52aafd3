import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError } from "./errors.js";
import { mountPathProblem, mountSetProblem } from "./mount-rules.js";
import { createSandboxSchema, createVolumeSchema, parseOrThrow } from "./schemas.js";

test("createVolume: the spec's sample passes; bad names and sizes are refused", () => {
  assert.deepEqual(parseOrThrow(createVolumeSchema, { name: "agent-cache", sizeGb: 5 }, "volume"), { name: "agent-cache", sizeGb: 5 });
  assert.equal(parseOrThrow(createVolumeSchema, { name: "a", sizeGb: 0.0625 }, "volume").sizeGb, 0.0625);
  const bad: unknown[] = [
    {},
    { name: "", sizeGb: 1 },
    { name: "Upper", sizeGb: 1 },
    { name: "-dash", sizeGb: 1 },
    { name: "a".repeat(64), sizeGb: 1 },
    { name: "ok", sizeGb: 0 },
    { name: "ok", sizeGb: -1 },
    { name: "ok", sizeGb: Number.NaN },
    { name: "ok", sizeGb: "5" },
    { name: "ok", sizeGb: 1025 },
    { name: "ok", sizeGb: 0.01 },
    { name: "ok", sizeGb: 1, extra: true },
  ];
  for (const input of bad) assert.throws(() => parseOrThrow(createVolumeSchema, input, "volume"), InvalidArgumentError, JSON.stringify(input));
});

test("createSandbox: memory units, timeouts, unknown options", () => {
  const req = parseOrThrow(createSandboxSchema, { memory: "1GiB", timeout: "90s", volumes: [{ id: "v", mountPath: "/mnt/x" }] }, "sandbox");
  assert.equal(req.memory, 2 ** 30);
  assert.equal(req.timeout, 90_000);
  assert.equal(req.volumes?.[0]?.accessMode, "rw");
  assert.equal(parseOrThrow(createSandboxSchema, { timeout: "session" }, "sandbox").timeout, "session");
  assert.throws(() => parseOrThrow(createSandboxSchema, { memory: "12XB" }, "sandbox"), /memory: "12XB" is not a size/);
  assert.throws(() => parseOrThrow(createSandboxSchema, { memory: "1MiB" }, "sandbox"), /memory must be between/);
  assert.throws(() => parseOrThrow(createSandboxSchema, { timeout: "forever" }, "sandbox"), /timeout/);
  assert.throws(() => parseOrThrow(createSandboxSchema, { colour: "red" }, "sandbox"), /unknown option "colour"/);
  assert.throws(() => parseOrThrow(createSandboxSchema, { volumes: [{ id: "v", mountPath: "/mnt/x", accessMode: "rwx" }] }, "sandbox"), /accessMode/);
});

test("mount paths: absolute, normalised, outside system directories", () => {
  for (const ok of ["/mnt/cache", "/workspace", "/workspace/team-a", "/home/app/data", "/tmp/x", "/library"]) {
    assert.equal(mountPathProblem(ok), null, ok);
  }
  for (const bad of [
    "mnt",
    "/",
    "/mnt/",
    "/mnt//x",
    "/mnt/./x",
    "/mnt/../etc",
    "/proc",
    "/proc/x",
    "/sys/x",
    "/dev",
    "/etc/x",
    "/usr/local",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64/x",
    "/boot",
    "/run/x",
    "/.atoll",
  ]) {
    assert.notEqual(mountPathProblem(bad), null, bad);
  }
});

test("mount sets: no nesting, no duplicate path, no volume twice", () => {
  assert.equal(
    mountSetProblem([
      { volumeId: "a", mountPath: "/a" },
      { volumeId: "b", mountPath: "/ab" },
    ]),
    null,
  );
  assert.match(
    mountSetProblem([
      { volumeId: "a", mountPath: "/a" },
      { volumeId: "b", mountPath: "/a/b" },
    ])!,
    /overlap/,
  );
  assert.match(
    mountSetProblem([
      { volumeId: "a", mountPath: "/a" },
      { volumeId: "b", mountPath: "/a" },
    ])!,
    /overlap/,
  );
  assert.match(
    mountSetProblem([
      { volumeId: "a", mountPath: "/a" },
      { volumeId: "a", mountPath: "/b" },
    ])!,
    /twice/,
  );
});
