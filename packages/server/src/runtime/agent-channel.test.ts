import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import type { ProcessExit, ProcessSink } from "../core/drivers.js";
import { AgentChannel, signalName, signalNumber } from "./agent-channel.js";
import { type Frame, FrameDecoder, FrameType, encodeFrame } from "./agent-protocol.js";

/** A fake init: collects the frames the channel sends and lets the test answer. */
function setup() {
  const toInit = new PassThrough();
  const fromInit = new PassThrough();
  const channel = new AgentChannel(toInit, fromInit);
  const received: Frame[] = [];
  const decoder = new FrameDecoder();
  toInit.on("data", (c: Buffer) => received.push(...decoder.push(c)));
  const reply = (type: number, procId: number, payload: number[] | Buffer = []) => fromInit.write(encodeFrame(type, procId, Buffer.from(payload)));
  return { channel, received, reply, fromInit };
}

function recorder() {
  const events: string[] = [];
  let resolveExit!: (e: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((r) => (resolveExit = r));
  const sink: ProcessSink = {
    onStarted: (pid) => events.push(`started ${pid}`),
    onStdout: (d) => events.push(`out ${Buffer.from(d).toString()}`),
    onStderr: (d) => events.push(`err ${Buffer.from(d).toString()}`),
    onExit: (e) => {
      events.push(`exit ${e.code} ${e.signal}`);
      resolveExit(e);
    },
    onSpawnError: (m, n) => {
      events.push(`spawn-error ${n} ${m}`);
      resolveExit({ code: null, signal: null, oom: false });
    },
  };
  return { events, sink, exited };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("AgentChannel", () => {
  it("resolves ready on READY and routes a process's frames to its sink", async () => {
    const { channel, received, reply } = setup();
    reply(FrameType.READY, 0);
    await channel.ready;
    const r = recorder();
    const h = channel.spawn({ argv: ["cat"], env: { A: "1" }, cwd: "/", user: "app", stdin: true }, r.sink);
    h.write(Buffer.from("in"));
    h.closeStdin();
    h.signal("SIGTERM");
    await tick();
    assert.deepEqual(
      received.map((f) => f.type),
      [FrameType.SPAWN, FrameType.STDIN, FrameType.STDIN_CLOSE, FrameType.SIGNAL],
    );
    const procId = received[0]!.procId;
    assert.equal(received[0]!.payload.toString().split("\0")[0], "1000");
    reply(FrameType.STARTED, procId, [0, 0, 0, 5]);
    reply(FrameType.STDOUT, procId, Buffer.from("hi"));
    reply(FrameType.EXIT, procId, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 15]);
    assert.deepEqual(await r.exited, { code: null, signal: "SIGTERM", oom: false });
    assert.deepEqual(r.events, ["started 5", "out hi", "exit null SIGTERM"]);
  });

  it("uses a new procId per spawn and reports spawn failures", async () => {
    const { channel, received, reply } = setup();
    const a = recorder();
    const b = recorder();
    channel.spawn({ argv: ["x"], env: {}, cwd: "/", user: "root", stdin: false }, a.sink);
    channel.spawn({ argv: ["y"], env: {}, cwd: "/", user: "root", stdin: false }, b.sink);
    await tick();
    assert.notEqual(received[0]!.procId, received[1]!.procId);
    reply(FrameType.SPAWN_FAILED, received[0]!.procId, Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from("nope")]));
    await a.exited;
    assert.deepEqual(a.events, ["spawn-error 2 nope"]);
  });

  it("on channel close, reports running processes as killed and rejects new spawns", async () => {
    const { channel, received, reply, fromInit } = setup();
    const running = recorder();
    const pending = recorder();
    channel.spawn({ argv: ["sleep"], env: {}, cwd: "/", user: "app", stdin: false }, running.sink);
    channel.spawn({ argv: ["sleep"], env: {}, cwd: "/", user: "app", stdin: false }, pending.sink);
    await tick();
    reply(FrameType.STARTED, received[0]!.procId, [0, 0, 0, 9]);
    fromInit.end();
    await channel.closed;
    assert.deepEqual(await running.exited, { code: null, signal: "SIGKILL", oom: false });
    await pending.exited;
    assert.match(pending.events[0]!, /^spawn-error/);
    await assert.rejects(channel.ready);
    const late = recorder();
    channel.spawn({ argv: ["true"], env: {}, cwd: "/", user: "app", stdin: false }, late.sink);
    await late.exited;
    assert.match(late.events[0]!, /not running/);
  });

  it("closes on a corrupt stream", async () => {
    const { channel, fromInit } = setup();
    fromInit.write(Buffer.from([0, 0, 0, 1, 0]));
    assert.ok((await channel.closed).error);
  });
});

describe("signal names", () => {
  it("maps numbers and names both ways", () => {
    assert.equal(signalName(9), "SIGKILL");
    assert.equal(signalNumber("TERM"), 15);
    assert.equal(signalNumber("SIGINT"), 2);
    assert.throws(() => signalNumber("SIGNOPE"));
  });
});
