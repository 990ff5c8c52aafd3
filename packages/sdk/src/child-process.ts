/**
 * A process running in a sandbox, as `sandbox.spawn()` returns it: web streams for stdio, a
 * `status` promise, `output()` and `kill()`. Modelled on Deno's `Deno.ChildProcess`.
 */
import { AtollError, type CommandStatus } from "./contract/index.js";
import { forwardOutput } from "./output-forwarding.js";
import { normaliseSignal } from "./signals.js";
import type { ProcessSink, Session } from "./session.js";
import { type SpawnOptions, type StdioMode, resolveSpawnOptions } from "./spawn-options.js";

/**
 * Everything a finished process printed, with its status.
 *
 * @example const { status, stdout } = await (await sandbox.spawn("ls", { stdout: "piped" })).output();
 */
export interface ProcessOutput {
  status: CommandStatus;
  /** Collected stdout; empty unless stdout was "piped". */
  stdout: Uint8Array;
  /** Collected stderr; empty unless stderr was "piped". */
  stderr: Uint8Array;
  /** `stdout` decoded as UTF-8 when stdout was "piped", else null (as in Deno Sandbox). */
  stdoutText: string | null;
  /** `stderr` decoded as UTF-8 when stderr was "piped", else null. */
  stderrText: string | null;
}

function textOf(stream: ReadableStream<Uint8Array> | null, bytes: Uint8Array): string | null {
  return stream ? new TextDecoder().decode(bytes) : null;
}

interface OutputChannel {
  stream: ReadableStream<Uint8Array> | null;
  push(data: Uint8Array): void;
  end(): void;
  fail(error: unknown): void;
}

/**
 * Where one output stream of a process goes. `consumed(n)` acknowledges bytes to the daemon
 * (flow control): at once when they are dropped ("null"), once written out ("inherit"), and, for
 * "piped", only when the program reads them from the stream. So a piped stream nobody reads
 * holds at most the session's output window here, and the process blocks in the sandbox.
 */
function outputChannel(target: "stdout" | "stderr", mode: StdioMode, consumed: (bytes: number) => void): OutputChannel {
  if (mode === "null") return { stream: null, push: (d) => consumed(d.byteLength), end() {}, fail() {} };
  if (mode === "inherit") return { stream: null, push: (d) => forwardOutput(target, d, () => consumed(d.byteLength)), end() {}, fail() {} };
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let cancelled = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  // highWaterMark 0: the stream itself queues nothing; `pull` runs when the program reads and
  // hands over one chunk from `queue`, which is what the daemon sent and the program has not read.
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
        if (failure) return controller.error(failure.error);
        const chunk = queue.shift();
        if (chunk) {
          controller.enqueue(chunk);
          consumed(chunk.byteLength);
        } else controller.close();
      },
      cancel() {
        // The reader lost interest: drop what is queued and what still comes.
        cancelled = true;
        for (const chunk of queue.splice(0)) consumed(chunk.byteLength);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    push(data) {
      if (cancelled || ended) return consumed(data.byteLength);
      queue.push(data);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(error) {
      if (ended) return;
      failure = { error };
      ended = true;
      queue.length = 0;
      notify();
    },
  };
}

/** Reads a byte stream to the end and concatenates it; `onChunk` sees every chunk as it arrives. */
export async function collectStream(stream: ReadableStream<Uint8Array> | null, onChunk?: (chunk: Uint8Array) => void): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onChunk?.(value);
    chunks.push(value);
    length += value.byteLength;
  }
  return concatChunks(chunks, length);
}

/** `chunks` copied into one new array of `length` (their total) bytes. @internal */
export function concatChunks(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * A process running inside a sandbox.
 *
 * @example
 *   const child = await sandbox.spawn("cat", { stdin: "piped", stdout: "piped" });
 *   const writer = child.stdin!.getWriter();
 *   await writer.write(new TextEncoder().encode("hello"));
 *   await writer.close();
 *   const { status, stdout } = await child.output();
 */
export class ChildProcess {
  /** pid inside the sandbox. */
  readonly pid: number;
  /** Writable stdin when spawned with `stdin: "piped"`, else null. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /** Readable stdout when spawned with `stdout: "piped"`, else null. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** Readable stderr when spawned with `stderr: "piped"`, else null. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves when the process has exited and all its output arrived; rejects if the session is lost. */
  readonly status: Promise<CommandStatus>;
  readonly #kill: (signal: string | number) => void;
  #exited = false;

  /** @internal Use `sandbox.spawn()`. */
  constructor(parts: {
    pid: number;
    stdin: WritableStream<Uint8Array> | null;
    stdout: ReadableStream<Uint8Array> | null;
    stderr: ReadableStream<Uint8Array> | null;
    status: Promise<CommandStatus>;
    kill: (signal: string | number) => void;
  }) {
    this.pid = parts.pid;
    this.stdin = parts.stdin;
    this.stdout = parts.stdout;
    this.stderr = parts.stderr;
    this.status = parts.status;
    this.#kill = parts.kill;
    const done = () => {
      this.#exited = true;
    };
    this.status.then(done, done);
  }

  /**
   * Sends a signal to the process and its children (its process group). No-op once it exited.
   * Throws TypeError for an unknown signal name.
   *
   * @example child.kill("SIGINT");
   */
  kill(signal: string | number = "SIGTERM"): void {
    const normalised = normaliseSignal(signal);
    if (!this.#exited) this.#kill(normalised);
  }

  /**
   * Waits for the exit and collects piped stdout/stderr.
   *
   * @example const { status, stdout } = await child.output();
   */
  async output(): Promise<ProcessOutput> {
    const [stdout, stderr, status] = await Promise.all([collectStream(this.stdout), collectStream(this.stderr), this.status]);
    return { status, stdout, stderr, stdoutText: textOf(this.stdout, stdout), stderrText: textOf(this.stderr, stderr) };
  }

  /** `await using child = …`: SIGKILL if still running, then wait for the exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.status.catch(() => undefined);
  }
}

/**
 * Spawns `cmd` on a session and resolves once the process has started.
 *
 * @example const child = await startChildProcess(session, "/bin/ls", { args: ["-l"], stdout: "piped" });
 */
export function startChildProcess(session: Session, cmd: string, options?: SpawnOptions): Promise<ChildProcess> {
  let resolved: ReturnType<typeof resolveSpawnOptions>;
  try {
    resolved = resolveSpawnOptions(cmd, options);
  } catch (e) {
    return Promise.reject(e);
  }
  const { signal } = resolved;
  if (signal?.aborted) {
    return Promise.reject(new AtollError("ABORTED", `spawn of ${cmd} was aborted before it started`, { reason: String(signal.reason) }));
  }
  let id = -1;
  const out = outputChannel("stdout", resolved.stdout, (n) => session.ack(id, "stdout", n));
  const err = outputChannel("stderr", resolved.stderr, (n) => session.ack(id, "stderr", n));
  let resolveStatus!: (s: CommandStatus) => void;
  let rejectStatus!: (e: unknown) => void;
  const status = new Promise<CommandStatus>((res, rej) => {
    resolveStatus = res;
    rejectStatus = rej;
  });
  status.catch(() => undefined); // a rejection nobody awaits must not crash the program

  return new Promise<ChildProcess>((resolveStart, rejectStart) => {
    let child: ChildProcess | undefined;
    const onAbort = () => session.signal(id, "SIGTERM");
    const finish = () => signal?.removeEventListener("abort", onAbort);
    const sink: ProcessSink = {
      started(pid) {
        const stdin =
          resolved.stdin === "piped"
            ? new WritableStream<Uint8Array>({
                write: (chunk) => session.writeStdin(id, typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk),
                close: () => session.closeStdin(id),
                abort: () => session.closeStdin(id),
              })
            : null;
        child = new ChildProcess({
          pid,
          stdin,
          stdout: out.stream,
          stderr: err.stream,
          status,
          kill: (s) => session.signal(id, s),
        });
        resolveStart(child);
      },
      stdout: (data) => out.push(data),
      stderr: (data) => err.push(data),
      exit(s) {
        finish();
        out.end();
        err.end();
        resolveStatus(s);
        if (!child) rejectStart(new AtollError("INTERNAL", `${cmd} exited before the daemon reported it started`));
      },
      fail(e: AtollError) {
        finish();
        out.fail(e);
        err.fail(e);
        rejectStatus(e);
        if (!child) rejectStart(e);
      },
    };
    try {
      id = session.spawn(resolved.request, sink);
    } catch (e) {
      rejectStart(e);
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
