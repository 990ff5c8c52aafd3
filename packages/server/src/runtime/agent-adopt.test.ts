/**
 * The control channel adopting a running sandbox (HELLO → STATE, docs/architecture.md "Live
 * restore"): the process table is rebuilt from STATE, what came before it is discarded, and a
 * hostile STATE (or none) ends only that channel.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameType, ProtocolError, encodeFrame } from "./agent-protocol.js";
import { type InitState, STATE_MAX_LIVE, encodeState } from "./agent-state.js";
import { FAKE_WINDOW, fakeInit, recorder } from "./fake-init.js";

const tick = () => new Promise((r) => setImmediate(r));
const NONCE = Buffer.from("01234567");
const spawnReq = { argv: ["x"], env: {}, cwd: "/", user: "app" as const, stdin: false };
const live = (procId: number, extra: Partial<InitState["live"][number]> = {}) => ({
  procId,
  pid: 40 + procId,
  reaped: false,
  stdinOpen: false,
  stdinUnacked: 0,
  stdoutSent: 1000,
  stderrSent: 10,
  stdoutCredit: 100,
  stderrCredit: 0,
  ...extra,
});

describe("AgentChannel adopting a sandbox", () => {
  it("sends HELLO, discards frames until its STATE, then continues above the highest procId", async () => {
    const { channel, received, reply } = fakeInit({ adoptNonce: NONCE });
    await tick();
    assert.equal(received[0]!.type, FrameType.HELLO);
    assert.deepEqual(received[0]!.payload, NONCE);
    // The previous daemon's view: output of a process this channel never heard of, a READY, a STATE of another HELLO.
    reply(FrameType.STDOUT, 3, Buffer.from("old"));
    reply(FrameType.READY, 0);
    reply(FrameType.STATE, 0, encodeState(Buffer.from("other..."), { maxProcId: 99, live: [], ended: [] }));
    reply(FrameType.STATE, 0, encodeState(NONCE, { maxProcId: 7, live: [live(3)], ended: [{ procId: 5, code: 0, signal: 0, stdoutSent: 4, stderrSent: 0 }] }));
    await channel.ready;
    const adopted = channel.adoptedProcesses();
    assert.deepEqual(
      adopted.live.map((p) => [p.procId, p.pid, p.stdoutSent]),
      [[3, 43, 1000]],
    );
    assert.deepEqual(
      adopted.ended.map((p) => p.procId),
      [5],
    );
    // Its output is drained (counted, acknowledged, credit topped up) and its EXIT accepted.
    reply(FrameType.STDOUT, 3, Buffer.alloc(100));
    reply(FrameType.EXIT, 3, [0, 0, 0, 0, 0, 0, 0, 0]);
    await tick();
    await tick();
    const after = channel.adoptedProcesses().live[0]!;
    assert.equal(after.stdoutSent, 1100);
    assert.deepEqual(after.exit, { code: 0, signal: null, oom: false });
    assert.ok(
      received.some((f) => f.type === FrameType.CREDIT && f.procId === 3),
      "credit granted to the adopted process",
    );
    // A new spawn gets a procId above everything init has seen.
    channel.spawn(spawnReq, recorder().sink);
    await tick();
    assert.equal(received.find((f) => f.type === FrameType.SPAWN)!.procId, 8);
    assert.equal(channel.isOpen, true);
  });

  it("accepts STDIN_ACK of what the previous daemon sent", async () => {
    const { channel, reply } = fakeInit({ adoptNonce: NONCE });
    reply(FrameType.STATE, 0, encodeState(NONCE, { maxProcId: 1, live: [live(1, { stdinOpen: true, stdinUnacked: 500 })], ended: [] }));
    await channel.ready;
    reply(FrameType.STDIN_ACK, 1, [0, 0, 1, 0xf4]);
    await tick();
    assert.equal(channel.isOpen, true);
    reply(FrameType.STDIN_ACK, 1, [0, 0, 0, 1]);
    assert.ok((await channel.closed).error instanceof ProtocolError, "one byte more than was in flight");
  });

  const HOSTILE: { what: string; payload: () => Buffer }[] = [
    { what: "a truncated STATE", payload: () => encodeState(NONCE, { maxProcId: 2, live: [live(1)], ended: [] }).subarray(0, 30) },
    { what: "a procId above the maximum", payload: () => encodeState(NONCE, { maxProcId: 2, live: [live(3)], ended: [] }) },
    { what: "a repeated procId", payload: () => encodeState(NONCE, { maxProcId: 2, live: [live(1), live(1)], ended: [] }) },
    { what: "procId 0", payload: () => encodeState(NONCE, { maxProcId: 2, live: [live(0)], ended: [] }) },
    {
      what: "too many processes",
      payload: () => {
        const b = encodeState(NONCE, { maxProcId: 2, live: [], ended: [] });
        b.writeUInt16BE(STATE_MAX_LIVE + 1, 12);
        return b;
      },
    },
    {
      what: "a flag that is not 0 or 1",
      payload: () => {
        const b = encodeState(NONCE, { maxProcId: 2, live: [live(1)], ended: [] });
        b[16 + 8] = 7;
        return b;
      },
    },
  ];
  for (const h of HOSTILE) {
    it(`closes with a protocol error on ${h.what}`, async () => {
      const { channel, reply } = fakeInit({ adoptNonce: NONCE });
      reply(FrameType.STATE, 0, h.payload());
      const { error } = await channel.closed;
      assert.ok(error instanceof ProtocolError, String(error));
      await assert.rejects(channel.ready);
    });
  }

  it("closes with a protocol error on output beyond the credit init reported", async () => {
    const { channel, reply } = fakeInit({ adoptNonce: NONCE });
    reply(FrameType.STATE, 0, encodeState(NONCE, { maxProcId: 1, live: [live(1, { stdoutCredit: 0 })], ended: [] }));
    await channel.ready;
    // The channel tops the stream up to its window; one byte more is too much.
    reply(FrameType.STDOUT, 1, Buffer.alloc(FAKE_WINDOW + 1));
    assert.ok((await channel.closed).error instanceof ProtocolError);
  });

  it("stays unready while init sends no STATE (the runtime's timeout ends it)", async () => {
    const { channel, reply, fromInit } = fakeInit({ adoptNonce: NONCE });
    reply(FrameType.READY, 0);
    reply(FrameType.EXIT, 1, Buffer.alloc(8));
    let ready = false;
    channel.ready.then(
      () => (ready = true),
      () => undefined,
    );
    await tick();
    assert.equal(ready, false);
    fromInit.end(encodeFrame(FrameType.STDOUT, 1, Buffer.from("x")));
    await channel.closed;
    await assert.rejects(channel.ready);
  });
});
