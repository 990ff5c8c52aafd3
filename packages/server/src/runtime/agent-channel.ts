/**
 * The daemon's end of the control channel to one sandbox's atoll-init: writes frames to its
 * stdin, decodes frames from its stdout, and routes them to the processes' sinks.
 */
import { constants as osConstants } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { ProcessExit, ProcessHandle, ProcessSink, SpawnRequest } from "../core/drivers.js";
import {
  FrameDecoder,
  FrameType,
  decodeExit,
  decodeSpawnFailed,
  decodeStarted,
  encodeFrame,
  encodeSignal,
  encodeSpawn,
  encodeStdin,
  type Frame,
} from "./agent-protocol.js";

/** uid/gid inside the sandbox for each SpawnRequest user. */
export const SANDBOX_USERS = { app: 1000, root: 0 } as const;

const ESRCH = osConstants.errno.ESRCH;
const signalNames = new Map<number, string>(Object.entries(osConstants.signals).map(([name, num]) => [num, name]));

/** "SIGKILL" for 9; "SIG<n>" for numbers without a name. */
export function signalName(signal: number): string {
  return signalNames.get(signal) ?? `SIG${signal}`;
}

/** Signal number for a name ("SIGTERM"/"TERM") or a number; throws on an unknown signal. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === "number") {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new RangeError(`invalid signal ${signal}`);
    return signal;
  }
  const name = (signal.startsWith("SIG") ? signal : `SIG${signal}`).toUpperCase();
  const num = (osConstants.signals as Record<string, number | undefined>)[name];
  if (num === undefined) throw new RangeError(`unknown signal ${signal}`);
  return num;
}

interface ProcState {
  sink: ProcessSink;
  started: boolean;
  stdinClosed: boolean;
}

/** Why the channel closed: EOF from init, a protocol error, or a write error. */
export interface ChannelClose {
  error?: Error;
}

export class AgentChannel {
  /** Resolves when init sent READY; rejects if the channel closes first. */
  readonly ready: Promise<void>;
  /** Resolves once the channel is closed (init exited or was killed). */
  readonly closed: Promise<ChannelClose>;

  private readonly decoder = new FrameDecoder();
  private readonly procs = new Map<number, ProcState>();
  private nextProcId = 1;
  private isClosed = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private resolveClosed!: (c: ChannelClose) => void;

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    output.on("data", (chunk: Buffer) => this.onData(chunk));
    output.on("end", () => this.close());
    output.on("close", () => this.close());
    output.on("error", (err: Error) => this.close(err));
    input.on("error", (err: Error) => this.close(err));
  }

  /** true once the channel is closed; spawn() then fails at once. */
  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Starts a process in the sandbox. Events arrive on `sink`; none before this returns. */
  spawn(req: SpawnRequest, sink: ProcessSink): ProcessHandle {
    const procId = this.nextProcId++;
    const state: ProcState = { sink, started: false, stdinClosed: !req.stdin };
    let frame: Buffer;
    try {
      const id = SANDBOX_USERS[req.user];
      frame = encodeSpawn(procId, { uid: id, gid: id, cwd: req.cwd, argv: req.argv, env: req.env, stdinPipe: req.stdin });
    } catch (err) {
      queueMicrotask(() => sink.onSpawnError((err as Error).message, osConstants.errno.EINVAL));
      return this.deadHandle();
    }
    if (this.isClosed) {
      queueMicrotask(() => sink.onSpawnError("the sandbox is not running", ESRCH));
      return this.deadHandle();
    }
    this.procs.set(procId, state);
    this.send(frame);
    return {
      write: (data) => {
        if (state.stdinClosed || !this.procs.has(procId) || data.byteLength === 0) return;
        for (const f of encodeStdin(procId, data)) this.send(f);
      },
      closeStdin: () => {
        if (state.stdinClosed) return;
        state.stdinClosed = true;
        if (this.procs.has(procId)) this.send(encodeFrame(FrameType.STDIN_CLOSE, procId));
      },
      signal: (sig) => {
        if (this.procs.has(procId)) this.send(encodeSignal(procId, signalNumber(sig)));
      },
    };
  }

  /** Asks init to SIGKILL everything and exit. */
  killAll(): void {
    this.send(encodeFrame(FrameType.KILL_ALL, 0));
  }

  /** Closes our end of the channel (init sees EOF, kills everything and exits). */
  end(): void {
    if (!this.input.writableEnded) this.input.end();
  }

  private deadHandle(): ProcessHandle {
    return { write: () => undefined, closeStdin: () => undefined, signal: () => undefined };
  }

  private send(frame: Buffer): void {
    if (this.isClosed || this.input.writableEnded || this.input.destroyed) return;
    this.input.write(frame);
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.close(err as Error);
      return;
    }
    for (const f of frames) this.dispatch(f);
  }

  private dispatch(f: Frame): void {
    if (f.type === FrameType.READY) {
      this.resolveReady();
      return;
    }
    const p = this.procs.get(f.procId);
    if (!p) return; // late frame of a process we already finished
    switch (f.type) {
      case FrameType.STARTED:
        p.started = true;
        p.sink.onStarted(decodeStarted(f.payload));
        break;
      case FrameType.SPAWN_FAILED: {
        this.procs.delete(f.procId);
        const { errno, message } = decodeSpawnFailed(f.payload);
        p.sink.onSpawnError(message, errno);
        break;
      }
      case FrameType.STDOUT:
        p.sink.onStdout(f.payload);
        break;
      case FrameType.STDERR:
        p.sink.onStderr(f.payload);
        break;
      case FrameType.EXIT: {
        this.procs.delete(f.procId);
        const { code, signal } = decodeExit(f.payload);
        const exit: ProcessExit = signal !== 0 ? { code: null, signal: signalName(signal), oom: false } : { code, signal: null, oom: false };
        p.sink.onExit(exit);
        break;
      }
      default:
        break; // unknown frame types from a newer init are ignored
    }
  }

  /**
   * Marks the channel closed. Processes still running are reported as killed (SIGKILL): init
   * killed them when it exited. Spawns not yet started get a spawn error.
   */
  private close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rejectReady(error ?? new Error("atoll-init exited before it was ready"));
    const left = [...this.procs.values()];
    this.procs.clear();
    for (const p of left) {
      if (p.started) p.sink.onExit({ code: null, signal: "SIGKILL", oom: false });
      else p.sink.onSpawnError("the sandbox stopped", ESRCH);
    }
    if (!this.input.destroyed) this.input.destroy();
    this.resolveClosed(error ? { error } : {});
  }
}
