import assert from "node:assert/strict";
import { test } from "node:test";
import { socketMemoryLimit, tcpPressureBytes } from "./socket-memory.js";

const MIB = 2 ** 20;

test("a sandbox's socket buffers get a quarter of its memory, at least 16 MiB, at most 1/8 of the host's TCP pressure threshold", () => {
  assert.equal(tcpPressureBytes("287889\t383855\t575778\n"), 383855 * 4096);
  assert.equal(tcpPressureBytes("garbage"), undefined);
  const pressure = 1536 * MIB;
  assert.equal(socketMemoryLimit(256 * MIB, pressure), 64 * MIB);
  assert.equal(socketMemoryLimit(32 * MIB, pressure), 16 * MIB);
  assert.equal(socketMemoryLimit(16 * 1024 * MIB, pressure), 192 * MIB);
  assert.equal(socketMemoryLimit(256 * MIB, undefined), 64 * MIB);
});
