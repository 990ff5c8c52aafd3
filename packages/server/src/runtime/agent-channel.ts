/**
 * The daemon's end of the control channel to one sandbox's atoll-init: writes frames to its
 * stdin, decodes frames from its stdout, routes them to the processes' sinks, grants each
 * output stream credit as its consumer acknowledges bytes (stream-credit.ts) and keeps each
 * process's stdin within a window of init's acknowledgements (stdin-flow.ts).
 */
import { constants as osConstants } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { AdoptedProcessInfo, ProcessExit, ProcessHandle, ProcessSink, SpawnRequest } from "../core/drivers.js";
import {
  FrameDecoder,
  FrameType,
  MAX_INIT_PAYLOAD,
  ProtocolError,
  decodeExit,
  decodeSpawnFailed,
  decodeStarted,
  decodeStdinAck,
  encodeCredit,
  encodeFrame,
  encodeSignal,
  encodeSpawn,
  type Frame,
} from "./agent-protocol.js";
import { type EndedProcState, decodeState } from "./agent-state.js";
import { StdinFlow } from "./stdin-flow.js";
import { StreamCredit } from "./stream-credit.js";
import { DaemonError } from "../daemon-error.js";
import { signalName, signalNumber } from "../core/signals.js";

/** uid/gid inside the sandbox for each SpawnRequest user. */
export const SANDBOX_USERS = { app: 1000, root: 0 } as const;

const ESRCH = osConstants.errno.ESRCH;
interface ProcState {
  procId: number;
  sink: ProcessSink;
  started: boolean;
  stdinClosed: boolean;
  stdin: StdinFlow;
  stdout: StreamCredit;
  stderr: StreamCredit;
  /** Adopted: STDIN bytes the previous daemon sent that init may still acknowledge. */
  inheritedStdin: number;
}

/** A process the previous daemon started, as this daemon took it over (RuntimeSandbox.adoptedProcesses). */
export type AdoptedProcess = AdoptedProcessInfo;

/** Why the channel closed: EOF from init, a protocol error (ProtocolError), or a write error. */
export interface ChannelClose {
  error?: Error;
}

export interface AgentChannelOptions {
  /**
   * Output bytes per stream that may be received and not yet acknowledged by the consumer
   * (ProcessHandle.ack); init reads a child's pipe no further (default OUTPUT_WINDOW).
   */
  window?: number;
  /**
   * Output credit the whole channel may have outstanding (granted and not acknowledged, summed
   * over every stream; default CHANNEL_BUDGET): a sandbox with many processes whose output
   * nobody takes cannot make the daemon hold a window for each.
   */
  budget?: number;
  /** Where an exception thrown by a ProcessSink goes (a daemon bug; the channel carries on). */
  onSinkError?: (err: unknown) => void;
  /**
   * Adopting a running sandbox (docs/architecture.md, "Live restore"): the channel sends HELLO
   * with this 8-byte nonce, discards every frame until init's STATE carries it back, and
   * rebuilds its process table from it; `ready` resolves then (READY is not expected).
   */
  adoptNonce?: Buffer;
}

/** Default output window per stream: the most the daemon holds of one process's stdout or stderr. */
export const OUTPUT_WINDOW = 1024 * 1024;
/** Stdin bytes in flight to init per process (init's queue for it stays below this). */
export const STDIN_WINDOW = 1024 * 1024;
/** Output credit one sandbox may have outstanding over all its streams (16 full windows). */
export const CHANNEL_BUDGET = 16 * 1024 * 1024;
/** Credit a stream may always have, whatever the budget: every process keeps making progress. */
export const CREDIT_FLOOR = 16 * 1024;

/**
 * The daemon's end of the control channel. Everything init sends is checked as hostile input
 * (init runs inside the sandbox): a frame that breaks the protocol — bad length, unknown type
 * or process, a frame out of order or after EXIT, output beyond the granted credit — closes the
 * channel with a ProtocolError, which ends that sandbox and nothing else.
 */
export class AgentChannel {
  /** Resolves when init sent READY; rejects if the channel closes first. */
  readonly ready: Promise<void>;
  /** Resolves once the channel is closed (init exited or was killed). */
  readonly closed: Promise<ChannelClose>;

  private readonly decoder = new FrameDecoder(MAX_INIT_PAYLOAD);
  private readonly procs = new Map<number, ProcState>();
  private readonly window: number;
  private readonly budget: number;
  /** Output credit outstanding over all live streams. */
  private committed = 0;
  /** Live processes with a stream held below its window by the budget. */
  private readonly starved = new Set<ProcState>();
  private nextProcId = 1;
  private isReady = false;
  /** Adopted processes by procId (their output is drained and discarded: no client yet). */
  private readonly adopted = new Map<number, AdoptedProcess>();
  private recentlyEnded: EndedProcState[] = [];
  private isClosed = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private resolveClosed!: (c: ChannelClose) => void;

  constructor(
    private readonly input: Writable,
    private readonly output: Readable,
    private readonly opts: AgentChannelOptions = {},
  ) {
    this.window = opts.window ?? OUTPUT_WINDOW;
    this.budget = opts.budget ?? CHANNEL_BUDGET;
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
    if (opts.adoptNonce) {
      if (opts.adoptNonce.byteLength !== 8) throw new RangeError("the adoption nonce must be 8 bytes");
      this.send(encodeFrame(FrameType.HELLO, 0, opts.adoptNonce));
    }
  }

  /**
   * What this channel took over from a previous daemon: the processes that were running (with
   * the output bytes init had sent of each, updated as more is drained) and those that ended
   * shortly before (their EXIT may never have reached a client). Empty for a launched sandbox.
   */
  adoptedProcesses(): { live: AdoptedProcess[]; ended: EndedProcState[] } {
    return { live: [...this.adopted.values()].map((a) => ({ ...a })), ended: [...this.recentlyEnded] };
  }

  /** true once the channel is closed; spawn() then fails at once. */
  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Starts a process in the sandbox. Events arrive on `sink`; none before this returns. */
  spawn(req: SpawnRequest, sink: ProcessSink): ProcessHandle {
    const procId = this.nextProcId++;
    const state: ProcState = {
      procId,
      sink,
      started: false,
      stdinClosed: !req.stdin,
      stdin: new StdinFlow(
        STDIN_WINDOW,
        (data) => this.procs.has(procId) && this.send(encodeFrame(FrameType.STDIN, procId, data)),
        () => this.procs.has(procId) && this.send(encodeFrame(FrameType.STDIN_CLOSE, procId)),
      ),
      stdout: new StreamCredit(this.window),
      stderr: new StreamCredit(this.window),
      inheritedStdin: 0,
    };
    let frame: Buffer;
    try {
      const id = SANDBOX_USERS[req.user];
      const ids = req.ids ?? { uid: id, gid: id };
      if (![ids.uid, ids.gid].every((n) => Number.isInteger(n) && n >= 0 && n <= 65535))
        throw new RangeError(`ids ${ids.uid}:${ids.gid} are outside the sandbox's 0..65535`);
      frame = encodeSpawn(procId, { uid: ids.uid, gid: ids.gid, cwd: req.cwd, argv: req.argv, env: req.env, stdinPipe: req.stdin });
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
    this.topUp(state);
    return {
      write: (data) => {
        if (!state.stdinClosed && this.procs.has(procId)) state.stdin.write(data);
      },
      get stdinBacklog() {
        return state.stdin.backlog;
      },
      closeStdin: () => {
        if (state.stdinClosed) return;
        state.stdinClosed = true;
        state.stdin.close();
      },
      signal: (sig) => {
        if (this.procs.has(procId)) this.send(encodeSignal(procId, signalNumber(sig)));
      },
      ack: (stream, bytes) => this.ack(state, stream, bytes),
    };
  }

  private ack(state: ProcState, stream: "stdout" | "stderr", bytes: number): void {
    if (!this.procs.has(state.procId)) return;
    const freed = state[stream].consume(bytes);
    this.committed -= freed;
    this.topUp(state);
    if (freed > 0) this.feedStarved(state);
  }

  /** STATE arrived: the process table is rebuilt from it; adopted output is drained and dropped. */
  private adoptState(payload: Buffer, nonce: Buffer): void {
    const state = decodeState(payload, nonce);
    this.nextProcId = state.maxProcId + 1;
    this.recentlyEnded = state.ended;
    for (const live of state.live) {
      const info: AdoptedProcess = { procId: live.procId, pid: live.pid, stdoutSent: live.stdoutSent, stderrSent: live.stderrSent, stdinOpen: live.stdinOpen };
      this.adopted.set(live.procId, info);
      const p: ProcState = {
        procId: live.procId,
        started: true,
        stdinClosed: !live.stdinOpen,
        stdin: new StdinFlow(
          STDIN_WINDOW,
          (data) => this.procs.has(live.procId) && this.send(encodeFrame(FrameType.STDIN, live.procId, data)),
          () => this.procs.has(live.procId) && this.send(encodeFrame(FrameType.STDIN_CLOSE, live.procId)),
        ),
        stdout: StreamCredit.held(this.window, live.stdoutCredit),
        stderr: StreamCredit.held(this.window, live.stderrCredit),
        inheritedStdin: live.stdinUnacked,
        sink: {
          onStarted: () => undefined,
          onSpawnError: () => undefined,
          onStdout: (data) => {
            info.stdoutSent += data.byteLength;
            queueMicrotask(() => this.ack(p, "stdout", data.byteLength));
          },
          onStderr: (data) => {
            info.stderrSent += data.byteLength;
            queueMicrotask(() => this.ack(p, "stderr", data.byteLength));
          },
          onExit: (exit) => (info.exit = exit),
        },
      };
      this.procs.set(live.procId, p);
      this.committed += p.stdout.outstanding + p.stderr.outstanding;
      this.topUp(p);
    }
    this.isReady = true;
    this.resolveReady();
  }

  /**
   * Grants a process's streams what brings each up to its window, or to what the channel's
   * budget leaves (never below CREDIT_FLOOR), in batches.
   */
  private topUp(p: ProcState): void {
    let capped = false;
    const grant = (s: StreamCredit) => {
      const room = this.budget - (this.committed - s.outstanding);
      const target = Math.max(CREDIT_FLOOR, Math.min(this.window, room));
      if (target < this.window) capped = true;
      const more = s.topUp(target);
      this.committed += more;
      return more;
    };
    const out = grant(p.stdout);
    const err = grant(p.stderr);
    if (capped) this.starved.add(p);
    else this.starved.delete(p);
    if (out > 0 || err > 0) this.send(encodeCredit(p.procId, out, err));
  }

  /** Budget was freed: the processes held below their window get their share. */
  private feedStarved(except?: ProcState): void {
    for (const q of this.starved) if (q !== except) this.topUp(q);
  }

  /** A process ended: its outstanding credit returns to the budget. */
  private forget(p: ProcState): void {
    this.procs.delete(p.procId);
    this.committed -= p.stdout.outstanding + p.stderr.outstanding;
    this.starved.delete(p);
    this.feedStarved();
  }

  /** Asks init to SIGKILL everything and exit. */
  killAll(): void {
    this.send(encodeFrame(FrameType.KILL_ALL, 0));
  }

  /**
   * Lets go of the channel without ending the sandbox (daemon shutdown): nothing more is sent or
   * delivered; the shim keeps init's side open for the next daemon.
   */
  detach(): void {
    this.isClosed = true;
    this.procs.clear();
    this.output.removeAllListeners("data");
    this.output.destroy();
    this.input.destroy();
    this.rejectReady(new DaemonError("SANDBOX_RUNTIME_FAILED", "the daemon let go of the sandbox"));
    this.resolveClosed({});
  }

  /** Closes our end of the channel (init sees EOF, kills everything and exits). */
  end(): void {
    if (!this.input.writableEnded) this.input.end();
  }

  private deadHandle(): ProcessHandle {
    return { write: () => undefined, closeStdin: () => undefined, signal: () => undefined, ack: () => undefined };
  }

  private send(frame: Buffer): void {
    if (this.isClosed || this.input.writableEnded || this.input.destroyed) return;
    this.input.write(frame);
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    try {
      for (const f of this.decoder.push(chunk)) {
        if (this.isClosed) return;
        this.dispatch(f);
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.close(err);
    }
  }

  /** Routes one frame; throws ProtocolError for anything init may not send now. */
  private dispatch(f: Frame): void {
    const name = frameName(f.type);
    const nonce = this.opts.adoptNonce;
    if (nonce && !this.isReady) {
      // Until our STATE, every frame belongs to the previous daemon's view (or an earlier HELLO's).
      if (f.type === FrameType.STATE && f.procId === 0 && f.payload.byteLength >= 8 && f.payload.subarray(0, 8).equals(nonce))
        this.adoptState(f.payload, nonce);
      return;
    }
    if (f.type === FrameType.READY) {
      if (this.isReady || f.procId !== 0 || f.payload.byteLength !== 0) throw new ProtocolError("unexpected READY frame");
      this.isReady = true;
      this.resolveReady();
      return;
    }
    if (!this.isReady) throw new ProtocolError(`${name} frame before READY`);
    const p = this.procs.get(f.procId);
    // Init never speaks of a process the daemon did not start, nor of one after its EXIT.
    if (!p) throw new ProtocolError(`${name} frame for process ${f.procId}, which is not running`);
    switch (f.type) {
      case FrameType.STARTED: {
        if (p.started) throw new ProtocolError(`second STARTED frame for process ${f.procId}`);
        const pid = decodeStarted(f.payload);
        p.started = true;
        this.deliver(() => p.sink.onStarted(pid));
        return;
      }
      case FrameType.SPAWN_FAILED: {
        if (p.started) throw new ProtocolError(`SPAWN_FAILED frame for process ${f.procId}, which started`);
        const { errno, message } = decodeSpawnFailed(f.payload);
        this.forget(p);
        this.deliver(() => p.sink.onSpawnError(message, errno));
        return;
      }
      case FrameType.STDOUT:
      case FrameType.STDERR: {
        const stream = f.type === FrameType.STDOUT ? p.stdout : p.stderr;
        if (!p.started) throw new ProtocolError(`${name} frame for process ${f.procId} before STARTED`);
        if (f.payload.byteLength === 0) throw new ProtocolError(`empty ${name} frame for process ${f.procId}`);
        const available = stream.available;
        if (!stream.receive(f.payload.byteLength)) {
          throw new ProtocolError(`${name} frame of ${f.payload.byteLength} bytes for process ${f.procId} exceeds its credit of ${available}`);
        }
        if (f.type === FrameType.STDOUT) this.deliver(() => p.sink.onStdout(f.payload));
        else this.deliver(() => p.sink.onStderr(f.payload));
        return;
      }
      case FrameType.STDIN_ACK: {
        if (!p.started) throw new ProtocolError(`STDIN_ACK frame for process ${f.procId} before STARTED`);
        let n = decodeStdinAck(f.payload);
        const inherited = Math.min(n, p.inheritedStdin);
        p.inheritedStdin -= inherited;
        n -= inherited;
        const inFlight = p.stdin.unacknowledged;
        if ((inherited === 0 || n > 0) && !p.stdin.ack(n))
          throw new ProtocolError(`STDIN_ACK of ${n} bytes for process ${f.procId}, which has ${inFlight} in flight`);
        this.deliver(() => p.sink.onStdinAck?.(n));
        return;
      }
      case FrameType.EXIT: {
        if (!p.started) throw new ProtocolError(`EXIT frame for process ${f.procId} before STARTED`);
        const { code, signal } = decodeExit(f.payload);
        this.forget(p);
        const exit: ProcessExit = signal !== 0 ? { code: null, signal: signalName(signal), oom: false } : { code, signal: null, oom: false };
        this.deliver(() => p.sink.onExit(exit));
        return;
      }
      default:
        throw new ProtocolError(`unknown frame type ${f.type}`);
    }
  }

  /** Calls a sink; its exception is a daemon bug, reported without ending the channel. */
  private deliver(call: () => void): void {
    try {
      call();
    } catch (err) {
      if (this.opts.onSinkError) this.opts.onSinkError(err);
      else
        queueMicrotask(() => {
          throw err;
        });
    }
  }

  /**
   * Marks the channel closed. Processes still running are reported as killed (SIGKILL): init
   * killed them when it exited. Spawns not yet started get a spawn error.
   */
  private close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rejectReady(error ?? new DaemonError("SANDBOX_RUNTIME_FAILED", "atoll-init exited before it was ready"));
    const left = [...this.procs.values()];
    this.procs.clear();
    for (const p of left) {
      if (p.started) this.deliver(() => p.sink.onExit({ code: null, signal: "SIGKILL", oom: false }));
      else this.deliver(() => p.sink.onSpawnError("the sandbox stopped", ESRCH));
    }
    if (!this.input.destroyed) this.input.destroy();
    // After a protocol error nothing more from init is read.
    if (error instanceof ProtocolError && !this.output.destroyed) this.output.destroy();
    this.resolveClosed(error ? { error } : {});
  }
}

const frameNames = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));

/** "STDOUT" for 67; "type 200" for an unknown type. */
function frameName(type: number): string {
  return frameNames.get(type) ?? `type ${type}`;
}
