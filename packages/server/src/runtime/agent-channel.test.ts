import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CREDIT_FLOOR, STDIN_WINDOW } from "./agent-channel.js";
import { signalName, signalNumber } from "../core/signals.js";
import { FrameType, MAX_INIT_PAYLOAD, ProtocolError, encodeFrame } from "./agent-protocol.js";
import { FAKE_WINDOW as WINDOW, fakeInit, recorder } from "./fake-init.js";

const tick = () => new Promise((r) => setImmediate(r));
const u32 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const spawnReq = { argv: ["x"], env: {}, cwd: "/", user: "app" as const, stdin: false };

describe("AgentChannel", () => {
  it("resolves ready on READY and routes a process's frames to its sink", async () => {
    const { channel, received, reply } = fakeInit();
    await channel.ready;
    const r = recorder();
    const h = channel.spawn({ argv: ["cat"], env: { A: "1" }, cwd: "/", user: "app", stdin: true }, r.sink);
    h.write(Buffer.from("in"));
    h.closeStdin();
    h.signal("SIGTERM");
    await tick();
    assert.deepEqual(
      received.map((f) => f.type),
      [FrameType.SPAWN, FrameType.CREDIT, FrameType.STDIN, FrameType.STDIN_CLOSE, FrameType.SIGNAL],
    );
    const procId = received[0]!.procId;
    assert.equal(received[0]!.payload.toString().split("\0")[0], "1000");
    reply(FrameType.STARTED, procId, u32(5));
    reply(FrameType.STDOUT, procId, Buffer.from("hi"));
    reply(FrameType.EXIT, procId, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 15]);
    assert.deepEqual(await r.exited, { code: null, signal: "SIGTERM", oom: false });
    assert.deepEqual(r.events, ["started 5", "out hi", "exit null SIGTERM"]);
  });

  it("runs as the ids a request names (an imported image's User), and refuses ids the sandbox does not map", async () => {
    const { channel, received } = fakeInit();
    await channel.ready;
    channel.spawn({ ...spawnReq, ids: { uid: 1234, gid: 4321 } }, recorder().sink);
    await tick();
    assert.deepEqual(received[0]!.payload.toString().split("\0").slice(0, 2), ["1234", "4321"]);
    for (const ids of [
      { uid: 65536, gid: 0 },
      { uid: 0, gid: -1 },
      { uid: 1.5, gid: 0 },
    ]) {
      const r = recorder();
      channel.spawn({ ...spawnReq, ids }, r.sink);
      await tick();
      assert.match(r.events.join(), /outside the sandbox's 0\.\.65535/);
    }
    assert.equal(received.filter((f) => f.type === FrameType.SPAWN).length, 1, "no SPAWN frame for a refused spawn");
  });

  it("uses a new procId per spawn and reports spawn failures", async () => {
    const { channel, received, reply } = fakeInit();
    const a = recorder();
    const b = recorder();
    channel.spawn({ ...spawnReq, user: "root" }, a.sink);
    channel.spawn({ ...spawnReq, user: "root" }, b.sink);
    await tick();
    const spawns = received.filter((f) => f.type === FrameType.SPAWN);
    assert.notEqual(spawns[0]!.procId, spawns[1]!.procId);
    reply(FrameType.SPAWN_FAILED, spawns[0]!.procId, Buffer.concat([Buffer.from(u32(2)), Buffer.from("nope")]));
    await a.exited;
    assert.deepEqual(a.events, ["spawn-error 2 nope"]);
  });

  it("on channel close, reports running processes as killed and rejects new spawns", async () => {
    const { channel, received, reply, fromInit } = fakeInit();
    const running = recorder();
    const pending = recorder();
    channel.spawn(spawnReq, running.sink);
    channel.spawn(spawnReq, pending.sink);
    await tick();
    reply(FrameType.STARTED, received[0]!.procId, u32(9));
    fromInit.end();
    assert.equal((await channel.closed).error, undefined);
    assert.deepEqual(await running.exited, { code: null, signal: "SIGKILL", oom: false });
    await pending.exited;
    assert.match(pending.events[0]!, /^spawn-error/);
    const late = recorder();
    channel.spawn(spawnReq, late.sink);
    await late.exited;
    assert.match(late.events[0]!, /not running/);
  });

  it("grants each output stream a window, and more as the consumer acknowledges", async () => {
    const { channel, received, reply } = fakeInit();
    const r = recorder();
    const h = channel.spawn(spawnReq, r.sink);
    await tick();
    const procId = received[0]!.procId;
    const credit = received[1]!;
    assert.equal(credit.type, FrameType.CREDIT);
    assert.deepEqual([credit.payload.readUInt32BE(0), credit.payload.readUInt32BE(4)], [WINDOW, WINDOW]);
    reply(FrameType.STARTED, procId, u32(7));
    reply(FrameType.STDOUT, procId, Buffer.alloc(WINDOW, 1));
    await tick();
    h.ack("stdout", WINDOW / 8); // less than a quarter: no grant yet
    await tick();
    assert.equal(received.length, 2);
    h.ack("stdout", WINDOW / 8);
    await tick();
    const more = received[2]!;
    assert.equal(more.type, FrameType.CREDIT);
    assert.deepEqual([more.payload.readUInt32BE(0), more.payload.readUInt32BE(4)], [WINDOW / 4, 0]);
    h.ack("stdout", 10 * WINDOW); // more than was received: clamped
    await tick();
    assert.deepEqual([received[3]!.payload.readUInt32BE(0)], [(3 * WINDOW) / 4]);
    assert.ok(channel.isOpen);
  });

  it("keeps the credit of all streams within the channel's budget, and shares what is freed", async () => {
    const { channel, received, reply } = fakeInit({ budget: 4 * WINDOW });
    const handles = Array.from({ length: 3 }, () => channel.spawn(spawnReq, recorder().sink));
    await tick();
    const granted = () => {
      const byProc = new Map<number, number>();
      for (const f of received.filter((x) => x.type === FrameType.CREDIT)) {
        byProc.set(f.procId, (byProc.get(f.procId) ?? 0) + f.payload.readUInt32BE(0) + f.payload.readUInt32BE(4));
      }
      return byProc;
    };
    const total = () => [...granted().values()].reduce((a, b) => a + b, 0);
    assert.equal(total(), 4 * WINDOW + 2 * CREDIT_FLOOR, "two processes get whole windows, the third the floor");
    assert.ok(
      [...granted().values()].every((n) => n >= 2 * CREDIT_FLOOR),
      "every stream may progress",
    );
    const first = received.find((f) => f.type === FrameType.SPAWN)!.procId;
    const last = received.filter((f) => f.type === FrameType.SPAWN).at(-1)!.procId;
    const lastBefore = granted().get(last)!;
    reply(FrameType.STARTED, first, u32(1));
    reply(FrameType.STDOUT, first, Buffer.alloc(WINDOW));
    await tick();
    handles[0]!.ack("stdout", WINDOW);
    reply(FrameType.EXIT, first, [0, 0, 0, 0, 0, 0, 0, 0]);
    await tick();
    assert.ok(granted().get(last)! > lastBefore, "the freed budget reached a starved process");
    assert.ok(channel.isOpen);
  });

  it("keeps stdin within a window of init's acknowledgements, and closes it after the last byte", async () => {
    const { channel, received, reply } = fakeInit();
    const acked: number[] = [];
    const r = recorder();
    const h = channel.spawn({ ...spawnReq, stdin: true }, { ...r.sink, onStdinAck: (n) => acked.push(n) });
    await tick();
    const procId = received[0]!.procId;
    reply(FrameType.STARTED, procId, u32(3));
    h.write(Buffer.alloc(3 * STDIN_WINDOW, 1));
    h.closeStdin();
    await tick();
    const stdinBytes = () => received.filter((f) => f.type === FrameType.STDIN).reduce((n, f) => n + f.payload.byteLength, 0);
    assert.equal(stdinBytes(), STDIN_WINDOW);
    assert.equal(h.stdinBacklog, 2 * STDIN_WINDOW);
    assert.ok(!received.some((f) => f.type === FrameType.STDIN_CLOSE), "EOF waits for the queued bytes");
    for (let i = 0; i < 3; i++) {
      reply(FrameType.STDIN_ACK, procId, u32(STDIN_WINDOW));
      await tick();
    }
    assert.equal(stdinBytes(), 3 * STDIN_WINDOW);
    assert.equal(received.at(-1)!.type, FrameType.STDIN_CLOSE);
    assert.deepEqual(acked, [STDIN_WINDOW, STDIN_WINDOW, STDIN_WINDOW]);
    assert.ok(channel.isOpen);
  });

  it("a sink that throws is reported, and the channel carries on", async () => {
    const { channel, received, reply, sinkErrors } = fakeInit();
    const r = recorder();
    channel.spawn(spawnReq, {
      ...r.sink,
      onStarted: () => {
        throw new Error("consumer bug");
      },
    });
    await tick();
    reply(FrameType.STARTED, received[0]!.procId, u32(1));
    reply(FrameType.EXIT, received[0]!.procId, [0, 0, 0, 0, 0, 0, 0, 0]);
    await r.exited;
    assert.equal((sinkErrors[0] as Error).message, "consumer bug");
    assert.ok(channel.isOpen);
  });
});

/** Every way init can break the protocol; each must close the channel with a ProtocolError. */
const HOSTILE: { what: string; frames: (procId: number) => Buffer[]; ready?: false }[] = [
  { what: "STARTED too short", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(0))] },
  { what: "STARTED too long", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(5))] },
  { what: "EXIT too short", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)), encodeFrame(FrameType.EXIT, id, Buffer.alloc(3))] },
  { what: "SPAWN_FAILED too short", frames: (id) => [encodeFrame(FrameType.SPAWN_FAILED, id, Buffer.alloc(2))] },
  { what: "unknown procId", frames: () => [encodeFrame(FrameType.STARTED, 12345, Buffer.alloc(4))] },
  {
    what: "frame after EXIT",
    frames: (id) => [
      encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)),
      encodeFrame(FrameType.EXIT, id, Buffer.alloc(8)),
      encodeFrame(FrameType.STDOUT, id, Buffer.from("late")),
    ],
  },
  { what: "second STARTED", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)), encodeFrame(FrameType.STARTED, id, Buffer.alloc(4))] },
  { what: "STDOUT before STARTED", frames: (id) => [encodeFrame(FrameType.STDOUT, id, Buffer.from("x"))] },
  { what: "empty STDERR", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)), encodeFrame(FrameType.STDERR, id, Buffer.alloc(0))] },
  {
    what: "output beyond the credit",
    frames: (id) => [
      encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)),
      encodeFrame(FrameType.STDOUT, id, Buffer.alloc(WINDOW)),
      encodeFrame(FrameType.STDOUT, id, Buffer.alloc(1)),
    ],
  },
  {
    what: "a frame longer than init ever sends",
    frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)), encodeFrame(FrameType.STDOUT, id, Buffer.alloc(MAX_INIT_PAYLOAD + 1))],
  },
  { what: "unknown frame type", frames: (id) => [encodeFrame(200, id, Buffer.alloc(0))] },
  {
    what: "STDIN_ACK of bytes never sent",
    frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4)), encodeFrame(FrameType.STDIN_ACK, id, Buffer.from(u32(1)))],
  },
  { what: "a daemon-to-init type", frames: (id) => [encodeFrame(FrameType.SPAWN, id, Buffer.alloc(0))] },
  { what: "second READY", frames: () => [encodeFrame(FrameType.READY, 0)] },
  { what: "frame before READY", frames: (id) => [encodeFrame(FrameType.STARTED, id, Buffer.alloc(4))], ready: false },
  { what: "impossible length", frames: () => [Buffer.from([0, 0, 0, 1, 0])] },
];

describe("AgentChannel against a hostile init", () => {
  for (const h of HOSTILE) {
    it(`closes with a protocol error on ${h.what}, and the process is reported killed`, async () => {
      const { channel, received, fromInit } = fakeInit(h.ready === false ? { ready: false } : {});
      const r = recorder();
      channel.spawn(spawnReq, r.sink);
      await tick();
      for (const f of h.frames(received[0]!.procId)) fromInit.write(f);
      const { error } = await channel.closed;
      assert.ok(error instanceof ProtocolError, `closed with ${String(error)}`);
      await r.exited;
      assert.ok(/^(exit |spawn-error)/.test(r.events.at(-1)!), r.events.join(", "));
      assert.ok(fromInit.destroyed, "nothing more is read from init");
    });
  }
});

describe("signal names", () => {
  it("maps numbers and names both ways", () => {
    assert.equal(signalName(9), "SIGKILL");
    assert.equal(signalNumber("TERM"), 15);
    assert.equal(signalNumber("SIGINT"), 2);
    assert.throws(() => signalNumber("SIGNOPE"));
  });
});
