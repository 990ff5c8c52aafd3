/**
 * Fuzzes the daemon's end of the control channel with what a hostile atoll-init could send:
 * random bytes in random chunks, and random (mostly well-formed) frame sequences. Whatever the
 * input, nothing may throw out of the channel (an uncaught exception fails the test), a closed
 * channel carries a ProtocolError, every process gets exactly one ending and nothing after it,
 * and no stream delivers more than its window without acknowledgements.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FrameType, ProtocolError, encodeFrame } from "./agent-protocol.js";
import { FAKE_WINDOW, fakeInit } from "./fake-init.js";
import type { ProcessSink } from "../core/drivers.js";

const tick = () => new Promise((r) => setImmediate(r));

/** A sink that checks the per-process invariants as events arrive. */
function checkedSink() {
  const state = { ended: 0, afterEnd: 0, started: 0, outBytes: 0, errBytes: 0 };
  /** Counts an event that came after the process ended, then applies `count`. */
  const event = (count: () => void) => {
    if (state.ended > 0) state.afterEnd++;
    count();
  };
  const sink: ProcessSink = {
    onStarted: () => event(() => state.started++),
    onStdout: (d) => event(() => (state.outBytes += d.byteLength)),
    onStderr: (d) => event(() => (state.errBytes += d.byteLength)),
    onExit: () => event(() => state.ended++),
    onSpawnError: () => event(() => state.ended++),
  };
  return { sink, state };
}

async function run(chunks: Uint8Array[], procIdsOut?: (ids: number[]) => Uint8Array[]) {
  const { channel, received, fromInit, sinkErrors } = fakeInit();
  const procs = [checkedSink(), checkedSink()];
  for (const p of procs) channel.spawn({ argv: ["x"], env: {}, cwd: "/", user: "app", stdin: false }, p.sink);
  await tick();
  const ids = received.filter((f) => f.type === FrameType.SPAWN).map((f) => f.procId);
  for (const c of procIdsOut ? procIdsOut(ids) : chunks) {
    if (fromInit.destroyed) break;
    fromInit.write(c);
    await tick();
  }
  fromInit.end();
  const { error } = await channel.closed;
  assert.ok(error === undefined || error instanceof ProtocolError, String(error));
  assert.deepEqual(sinkErrors, []);
  for (const { state } of procs) {
    assert.equal(state.ended, 1, "exactly one ending per process");
    assert.equal(state.afterEnd, 0, "nothing after the ending");
    assert.ok(state.started <= 1);
    assert.ok(state.outBytes <= FAKE_WINDOW && state.errBytes <= FAKE_WINDOW, "no stream beyond its window");
  }
}

test("random bytes in random chunks never escape the channel", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => run(chunks)),
    { numRuns: 300 },
  );
});

const frameArb = fc.record({
  type: fc.constantFrom(
    FrameType.READY,
    FrameType.STARTED,
    FrameType.SPAWN_FAILED,
    FrameType.STDOUT,
    FrameType.STDERR,
    FrameType.EXIT,
    FrameType.STDIN_ACK,
    FrameType.CREDIT,
    0,
    255,
  ),
  proc: fc.nat({ max: 3 }), // 0, 1 = the two processes, 2 = procId 0, 3 = an unknown one
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.integer({ min: 0, max: 2 * FAKE_WINDOW }).map((n) => new Uint8Array(n)),
  ),
  split: fc.boolean(),
});

test("random frame sequences are either followed or end the channel with a protocol error", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { maxLength: 25 }), (frames) =>
      run([], (ids) =>
        frames.flatMap((f) => {
          const procId = f.proc < 2 ? ids[f.proc]! : f.proc === 2 ? 0 : 777;
          const bytes = encodeFrame(f.type, procId, f.payload);
          return f.split ? [bytes.subarray(0, 3), bytes.subarray(3)] : [bytes];
        }),
      ),
    ),
    { numRuns: 300 },
  );
});

test("a flood of output within the credit is delivered in full, and stops at the window", async () => {
  const { channel, received, reply } = fakeInit();
  const { sink, state } = checkedSink();
  const h = channel.spawn({ argv: ["x"], env: {}, cwd: "/", user: "app", stdin: false }, sink);
  await tick();
  const id = received[0]!.procId;
  reply(FrameType.STARTED, id, [0, 0, 0, 1]);
  for (let i = 0; i < FAKE_WINDOW / 1024; i++) reply(FrameType.STDOUT, id, Buffer.alloc(1024));
  await tick();
  assert.equal(state.outBytes, FAKE_WINDOW);
  h.ack("stdout", FAKE_WINDOW);
  for (let i = 0; i < FAKE_WINDOW / 1024; i++) reply(FrameType.STDOUT, id, Buffer.alloc(1024));
  await tick();
  assert.equal(state.outBytes, 2 * FAKE_WINDOW);
  assert.ok(channel.isOpen);
  reply(FrameType.STDOUT, id, Buffer.alloc(1));
  assert.ok((await channel.closed).error instanceof ProtocolError);
});
