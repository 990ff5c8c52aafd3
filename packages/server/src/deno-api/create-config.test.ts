import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequestFromHeader } from "./create-config.js";

const header = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64");

test("Deno's create options become Atoll's request", () => {
  const now = 1_000_000;
  const req = createRequestFromHeader(
    header({ stop_at_ms: now + 300_000, memory_mb: 1280, labels: { a: "b" }, volumes: [{ volume: "cache", path: "/data" }], allow_net: ["example.com"] }),
    now,
  );
  assert.deepEqual(req, {
    timeout: 300_000,
    memoryMb: 1280,
    labels: { a: "b" },
    volumes: [{ id: "cache", mountPath: "/data", accessMode: "rw" }],
    allowNet: ["example.com"],
  });
  assert.deepEqual(createRequestFromHeader(undefined), {});
  assert.deepEqual(createRequestFromHeader(header({})), {});
});

test("a bad config header is INVALID_ARGUMENT", () => {
  for (const bad of [
    "%%%",
    header([1]),
    header({ memory_mb: "big" }),
    header({ unknown: 1 }),
    "x".repeat(20_000),
    header({ volumes: [{ volume: "", path: "/x" }] }),
  ]) {
    assert.throws(
      () => createRequestFromHeader(bad),
      (e: { code?: string }) => e.code === "INVALID_ARGUMENT",
    );
  }
});
