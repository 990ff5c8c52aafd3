/**
 * One process of a FakeSandbox: runs a FakeProgram and speaks the ProcessSink/ProcessHandle
 * contract of core/drivers.ts the way the bubblewrap runtime does. Events are delivered
 * asynchronously, never from inside spawn(); at most WINDOW bytes per stream wait for `ack`
 * (beyond it the output waits, as a process blocks on a full pipe); the exit is reported
 * after every byte of output was delivered; stdin is acknowledged (onStdinAck) as the program
 * reads it, or at once when it is dropped (no stdin pipe, or the process ended).
 */
import { signalName, signalNumberOf } from "../../core/signals.js";
import type { ProcessHandle, ProcessSink, SpawnRequest } from "../../core/drivers.js";
import type { FakeProgram } from "./fake-programs.js";

/** Output a runtime keeps in flight per stream without an acknowledgement (core/drivers.ts). */
const WINDOW = 2 ** 20;

/** One output stream: delivers while the consumer's unacknowledged bytes stay within WINDOW. */
class OutStream {
  private readonly queue: Uint8Array[] = [];
  private unacked = 0;
  constructor(
    private readonly deliver: (data: Uint8Array) => void,
    private readonly drained: () => void,
  ) {}

  get empty(): boolean {
    return this.queue.length === 0;
  }

  push(data: Uint8Array): void {
    if (data.byteLength > 0) this.queue.push(data);
    this.pump();
  }

  ack(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    this.pump();
  }

  /** The process died: what was not delivered is lost with the pipe. */
  clear(): void {
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.unacked < WINDOW) {
      const next = this.queue[0]!;
      const room = WINDOW - this.unacked;
      const part = next.byteLength <= room ? next : next.subarray(0, room);
      if (part === next) this.queue.shift();
      else this.queue[0] = next.subarray(room);
      this.unacked += part.byteLength;
      this.deliver(part);
    }
    if (this.queue.length === 0) this.drained();
  }
}

export class FakeProcess {
  readonly handle: ProcessHandle;
  readonly name: string;
  running = false;
  private ended = false;
  private exitCode: number | undefined;
  private readonly stdout: OutStream;
  private readonly stderr: OutStream;
  private readonly stdinQueue: Uint8Array[] = [];
  private stdinBytes = 0;
  private stdinClosed: boolean;
  private stdinWaiter: ((chunk: Uint8Array | null) => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly req: SpawnRequest,
    private readonly sink: ProcessSink,
    private readonly opts: { pid: number; program: FakeProgram | undefined; readFile: (path: string) => Uint8Array | undefined; onEnd: () => void },
  ) {
    this.name = req.argv[0]?.split("/").pop() ?? "";
    this.stdinClosed = !req.stdin;
    this.stdout = new OutStream(
      (d) => this.later(() => sink.onStdout(d)),
      () => this.maybeExit(),
    );
    this.stderr = new OutStream(
      (d) => this.later(() => sink.onStderr(d)),
      () => this.maybeExit(),
    );
    const self = this;
    this.handle = {
      write: (data) => this.write(data),
      get stdinBacklog() {
        return self.stdinBytes;
      },
      closeStdin: () => {
        this.stdinClosed = true;
        this.feedStdin();
      },
      signal: (sig) => {
        const num = signalNumberOf(sig);
        const name = num === undefined ? undefined : signalName(num);
        if (name && this.running) this.end({ code: null, signal: name, oom: false });
      },
      ack: (stream, bytes) => (stream === "stdout" ? this.stdout : this.stderr).ack(bytes),
    };
  }

  get pid(): number {
    return this.opts.pid;
  }

  /** The process could not start (no exit follows). */
  refuse(message: string, errno: number): void {
    this.ended = true;
    this.later(() => this.sink.onSpawnError(message, errno));
  }

  start(): void {
    this.running = true;
    this.later(() => this.sink.onStarted(this.pid));
    const program = this.opts.program!;
    setImmediate(() => {
      if (!this.running) return;
      program({
        argv: this.req.argv,
        env: this.req.env,
        cwd: this.req.cwd,
        user: this.req.user,
        stdout: (d) => this.running && this.stdout.push(typeof d === "string" ? Buffer.from(d) : d),
        stderr: (d) => this.running && this.stderr.push(typeof d === "string" ? Buffer.from(d) : d),
        readStdin: () => this.readStdin(),
        readFile: this.opts.readFile,
        sleep: (ms) =>
          new Promise((resolve) => {
            const t = setTimeout(() => {
              this.timers.delete(t);
              resolve();
            }, ms);
            this.timers.add(t);
          }),
      }).then(
        (code) => {
          if (!this.running) return;
          this.exitCode = code;
          this.maybeExit();
        },
        (err: unknown) => {
          this.stderr.push(Buffer.from(`${String(err)}\n`));
          this.exitCode = 1;
          this.maybeExit();
        },
      );
    });
  }

  /** The sandbox was killed: the process dies with SIGKILL. */
  killed(): void {
    if (this.running) this.end({ code: null, signal: "SIGKILL", oom: false });
  }

  private write(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    if (this.stdinClosed || !this.running) {
      this.later(() => this.sink.onStdinAck?.(data.byteLength)); // dropped: nobody reads it
      return;
    }
    this.stdinQueue.push(Uint8Array.from(data));
    this.stdinBytes += data.byteLength;
    this.feedStdin();
  }

  private readStdin(): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      this.stdinWaiter = resolve;
      this.feedStdin();
    });
  }

  private feedStdin(): void {
    const waiter = this.stdinWaiter;
    if (!waiter) return;
    const chunk = this.stdinQueue.shift();
    if (chunk) {
      this.stdinWaiter = undefined;
      this.stdinBytes -= chunk.byteLength;
      this.later(() => this.sink.onStdinAck?.(chunk.byteLength));
      waiter(chunk);
    } else if (this.stdinClosed) {
      this.stdinWaiter = undefined;
      waiter(null);
    }
  }

  private maybeExit(): void {
    if (this.exitCode !== undefined && this.running && this.stdout.empty && this.stderr.empty) {
      this.end({ code: this.exitCode, signal: null, oom: false });
    }
  }

  private end(exit: { code: number | null; signal: string | null; oom: boolean }): void {
    this.running = false;
    if (this.ended) return;
    this.ended = true;
    // Output still waiting for the consumer's window dies with the process's pipe.
    this.stdout.clear();
    this.stderr.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // Stdin nobody will read any more is dropped, and acknowledged as such.
    const dropped = this.stdinBytes;
    this.stdinQueue.length = 0;
    this.stdinBytes = 0;
    if (dropped > 0) this.later(() => this.sink.onStdinAck?.(dropped));
    this.stdinWaiter = undefined;
    this.opts.onEnd();
    this.later(() => this.sink.onExit(exit));
  }

  /** Events reach the sink in order, and never synchronously from the caller's stack. */
  private later(fn: () => void): void {
    setImmediate(fn);
  }
}
