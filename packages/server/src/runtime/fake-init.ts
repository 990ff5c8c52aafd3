/**
 * Test helpers for the control channel: a real AgentChannel wired to in-memory pipes, with the
 * test playing atoll-init (agent-channel.test.ts, agent-channel.fuzz.test.ts).
 */
import { PassThrough } from "node:stream";
import type { ProcessExit, ProcessSink } from "../core/drivers.js";
import { AgentChannel } from "./agent-channel.js";
import { type Frame, FrameDecoder, FrameType, encodeFrame } from "./agent-protocol.js";

/** The output window fakeInit's channel grants per stream. */
export const FAKE_WINDOW = 64 * 1024;

/** A fake init: collects the frames the channel sends and lets the test answer. */
export function fakeInit(opts: { ready?: boolean; budget?: number; adoptNonce?: Buffer } = {}) {
  const toInit = new PassThrough();
  const fromInit = new PassThrough();
  const sinkErrors: unknown[] = [];
  const channel = new AgentChannel(toInit, fromInit, {
    window: FAKE_WINDOW,
    budget: opts.budget,
    onSinkError: (e) => sinkErrors.push(e),
    adoptNonce: opts.adoptNonce,
  });
  const received: Frame[] = [];
  const decoder = new FrameDecoder();
  toInit.on("data", (c: Buffer) => received.push(...decoder.push(c)));
  const reply = (type: number, procId: number, payload: number[] | Buffer = []) => fromInit.write(encodeFrame(type, procId, Buffer.from(payload)));
  if (opts.ready !== false && !opts.adoptNonce) reply(FrameType.READY, 0);
  return { channel, received, reply, fromInit, sinkErrors };
}

/** Records a sink's events; `exited` resolves on its exit or spawn error. */
export function recorder() {
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
