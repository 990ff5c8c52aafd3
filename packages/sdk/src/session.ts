/**
 * The session WebSocket of one SDK `Sandbox` object (docs/architecture.md, "Session WebSocket").
 * All processes of that object are multiplexed on it: spawn/stdin/signal go out, started/exit/
 * error text frames and stdout/stderr binary frames come back and are routed by process id.
 * When the socket closes, every process still running fails with an error that says why.
 *
 * Daemon restarts (docs/api.md, "Daemon restarts"): sandboxes outlive the daemon, so a socket
 * that drops without the sandbox having stopped (close codes of a restart or a broken
 * connection) does not end the session: the processes it carried fail with DAEMON_RESTARTED,
 * and the next request reopens the socket, waiting up to RECONNECT_WINDOW_MS for the daemon to
 * come back. A session that keeps a `timeout: "session"` sandbox alive reconnects at once.
 */
import {
  type AtollError,
  type CommandStatus,
  ConnectionError,
  DaemonRestartedError,
  FRAME_STDERR,
  FRAME_STDIN,
  FRAME_STDOUT,
  InvalidArgumentError,
  type SessionClientMessage,
  type SessionServerMessage,
  SESSION_STDIN_WINDOW,
  SandboxNotRunningError,
  ServerError,
  decodeSessionFrame,
  encodeSessionFrame,
  errorFromWire,
  isApiErrorCode,
  parseOrThrow,
  sandboxStoppedMessage,
  sessionClientMessageSchema,
} from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";
import { retryWithin } from "./retry-within.js";
import { type SessionSocket, openSessionSocket, toWebSocketUrl } from "./session-socket.js";

/**
 * Receives everything that happens to one spawned process. Exactly one of exit/fail ends it.
 * Output bytes must be acknowledged with `Session.ack` once consumed (flow control).
 */
export interface ProcessSink {
  started(pid: number): void;
  stdout(data: Uint8Array): void;
  stderr(data: Uint8Array): void;
  exit(status: CommandStatus): void;
  fail(error: AtollError): void;
}

/** A spawn request without the protocol's `type` and `id`. */
export type SpawnRequest = Omit<Extract<SessionClientMessage, { type: "spawn" }>, "type" | "id">;

/**
 * Flow control of output (docs/architecture.md, "Session WebSocket"): every spawn asks the
 * daemon to send at most this many bytes of stdout (and of stderr) that this client did not
 * acknowledge, and the client acknowledges bytes once the program took them (read them from a
 * piped stream, or they were written out for "inherit"). So the SDK never holds more than this
 * per stream, and a process whose output nobody reads blocks inside the sandbox.
 */
export const OUTPUT_WINDOW = 1024 * 1024;
/** Acknowledgements are batched: one per this many consumed bytes. */
const ACK_EVERY = OUTPUT_WINDOW / 4;

/** Largest stdin frame we send; bigger writes are split. */
const STDIN_CHUNK = 64 * 1024;

/** How long a session whose socket dropped keeps trying to reach the daemon again. */
export const RECONNECT_WINDOW_MS = 60_000;
/**
 * Close codes after which the sandbox may well be running still: going away (1001), no status
 * (1005: a daemon that closed its sockets on shutdown), abnormal (1006: the daemon died or the
 * network broke), service restart (1012), try again later (1013).
 */
const RECONNECTABLE_CLOSE_CODES = new Set([1001, 1005, 1006, 1012, 1013]);

/** Options of `Session.open`. */
export interface SessionOptions {
  /**
   * Reconnect as soon as the socket drops, not at the next request: this session keeps a
   * `timeout: "session"` sandbox alive, which ends once no session is connected.
   */
  eager?: boolean;
}

/**
 * One open session. Created by `Session.open`; closed by `close()` or by the daemon.
 *
 * @example
 *   const session = await Session.open(http, "sbx_123");
 *   const id = session.spawn({ cmd: "/bin/echo", args: ["hi"] }, sink);
 */
export class Session {
  readonly sandboxId: string;
  readonly #http: HttpClient;
  readonly #eager: boolean;
  /** The open socket; undefined while the session reconnects after a drop. */
  #socket: SessionSocket | undefined;
  /** Messages sent while the socket is being reopened, sent once it is. */
  readonly #outbox: (string | Uint8Array)[] = [];
  #reconnecting: Promise<void> | undefined;
  #nextId = 1;
  readonly #processes = new Map<number, ProcessSink>();
  /** Consumed output bytes of each process not acknowledged to the daemon yet. */
  readonly #unacked = new Map<number, { stdout: number; stderr: number }>();
  /** Stdin bytes of each process sent and not yet acknowledged (stdin_ack), and who waits for room. */
  readonly #stdin = new Map<number, { unacked: number; waiters: (() => void)[] }>();
  /** Processes that reported `started`; a later `error` for them does not end them. */
  readonly #started = new Set<number>();
  #closed = false;
  #closeRequested = false;
  #stopReason: string | null = null;
  /** The sandbox's timeout setting, as the daemon reported it with the stop. */
  #stopTimeout: string | undefined;
  readonly #closeWaiters: (() => void)[] = [];
  readonly #stopListeners: ((reason: string) => void)[] = [];

  private constructor(http: HttpClient, sandboxId: string, options: SessionOptions) {
    this.#http = http;
    this.sandboxId = sandboxId;
    this.#eager = options.eager ?? false;
  }

  /** Opens the session WebSocket of a sandbox; resolves once it is open. */
  static async open(http: HttpClient, sandboxId: string, options: SessionOptions = {}): Promise<Session> {
    const session = new Session(http, sandboxId, options);
    session.#socket = await session.#openSocket();
    return session;
  }

  async #openSocket(): Promise<SessionSocket> {
    const { url, token } = await this.#http.connection();
    const wsUrl = `${toWebSocketUrl(url)}/v1/sandboxes/${seg(this.sandboxId)}/session`;
    const socket = await openSessionSocket(wsUrl, token, {
      onMessage: (data) => {
        if (this.#socket === socket) this.#onMessage(data);
      },
      onClose: (code, reason) => {
        if (this.#socket === socket) this.#onClose(code, reason);
      },
    });
    return socket;
  }

  /** true once the session is over: closed by us, by the daemon, or not reopened after a drop. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the daemon stopped the sandbox ("killed", "timeout", …), or null. */
  get stopReason(): string | null {
    return this.#stopReason;
  }

  /** Calls `listener` when the daemon reports `sandbox_stopped`. */
  onStopped(listener: (reason: string) => void): void {
    this.#stopListeners.push(listener);
  }

  /**
   * Sends a spawn request and routes its events to `sink`. Returns the process id on this session.
   * Throws InvalidArgumentError for a malformed request and an error if the session is over.
   */
  spawn(request: SpawnRequest, sink: ProcessSink): number {
    this.#assertOpen();
    const id = this.#nextId++;
    const message = { type: "spawn" as const, id, ...request, window: OUTPUT_WINDOW };
    parseOrThrow(sessionClientMessageSchema, message, "spawn options");
    this.#processes.set(id, sink);
    this.#unacked.set(id, { stdout: 0, stderr: 0 });
    this.#stdin.set(id, { unacked: 0, waiters: [] });
    this.#send(JSON.stringify(message));
    return id;
  }

  /**
   * Sends bytes to a process's stdin, never more than SESSION_STDIN_WINDOW ahead of what the
   * process consumed (the daemon's stdin_ack): a process that does not read its stdin holds the
   * writer back.
   */
  async writeStdin(id: number, data: Uint8Array): Promise<void> {
    for (let offset = 0; offset < data.byteLength; offset += STDIN_CHUNK) {
      this.#assertRunning(id);
      const chunk = data.subarray(offset, offset + STDIN_CHUNK);
      const flow = this.#stdin.get(id)!;
      while (flow.unacked + chunk.byteLength > SESSION_STDIN_WINDOW) {
        await new Promise<void>((resolve) => flow.waiters.push(resolve));
        this.#assertRunning(id);
      }
      flow.unacked += chunk.byteLength;
      this.#send(encodeSessionFrame(FRAME_STDIN, id, chunk));
    }
  }

  /** The process is gone (or the session): stdin writers waiting for room give up. */
  #endStdin(id?: number): void {
    for (const [key, flow] of this.#stdin) {
      if (id !== undefined && key !== id) continue;
      this.#stdin.delete(key);
      for (const wake of flow.waiters.splice(0)) wake();
    }
  }

  /**
   * The program took `bytes` of a process's stdout or stderr (every byte the sink received must
   * be acknowledged once it is consumed or dropped, or the process stalls after OUTPUT_WINDOW).
   */
  ack(id: number, stream: "stdout" | "stderr", bytes: number): void {
    const pending = this.#unacked.get(id);
    if (!pending || this.#closed) return;
    pending[stream] += bytes;
    if (pending[stream] < ACK_EVERY) return;
    this.#send(JSON.stringify({ type: "ack", id, [stream]: pending[stream] }));
    pending[stream] = 0;
  }

  /** Closes a process's stdin (EOF). A no-op when the process or the session is gone. */
  closeStdin(id: number): void {
    if (!this.#closed && this.#processes.has(id)) this.#send(JSON.stringify({ type: "stdin_close", id }));
  }

  /** Sends a signal (name like "SIGTERM" or number) to a process group. No-op once it ended. */
  signal(id: number, signal: string | number): void {
    if (!this.#closed && this.#processes.has(id)) this.#send(JSON.stringify({ type: "signal", id, signal }));
  }

  /** Closes the socket and waits until it is closed. Running processes fail. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closeRequested = true;
    const socket = this.#socket;
    if (!socket) {
      // Between a drop and a reconnect: nothing is open (a reconnect in flight closes what it opens).
      this.#finish(() => new ConnectionError(`The session of sandbox ${this.sandboxId} was closed (close() was called)`));
      return Promise.resolve();
    }
    const done = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    try {
      socket.close(1000, "client closed the session");
    } catch {
      this.#onClose(1006, "");
    }
    return done;
  }

  /** Sends on the socket, or queues until it is reopened (and starts reopening it). */
  #send(data: string | Uint8Array): void {
    if (this.#socket) {
      this.#socket.send(data);
      return;
    }
    this.#outbox.push(data);
    void this.#reconnect().catch(() => undefined);
  }

  /**
   * Reopens the socket after a drop, trying until RECONNECT_WINDOW_MS passed. Between attempts
   * it asks the daemon over HTTP how the sandbox is: a sandbox that stopped (or is gone) ends
   * the session with that error at once. On failure every queued process fails with the error.
   */
  #reconnect(): Promise<void> {
    this.#reconnecting ??= retryWithin(
      RECONNECT_WINDOW_MS,
      async () => {
        if (this.#closed) return;
        const socket = await this.#openSocket();
        if (this.#closed) {
          socket.close(1000, "client closed the session");
          return;
        }
        this.#socket = socket;
        for (const data of this.#outbox.splice(0)) socket.send(data);
      },
      (err) => this.#probe(err),
    )
      .catch((error: unknown) => {
        this.#finish(() => error as AtollError);
        throw error;
      })
      .finally(() => (this.#reconnecting = undefined));
    return this.#reconnecting;
  }

  /** After a failed reopen: "retry" while the daemon is unreachable or the sandbox runs, else the error that ends the session. */
  async #probe(openError: unknown): Promise<"retry" | AtollError> {
    if (!(openError instanceof ConnectionError)) return openError as AtollError; // the daemon refused the socket with a typed error
    try {
      // Once: this loop does the waiting (the request's own wait would stretch the window).
      const info = await this.#http.request<{ state: string; stopReason?: string | null; timeout?: string }>("GET", `/v1/sandboxes/${seg(this.sandboxId)}`, {
        once: true,
      });
      if (info.state === "stopped") {
        this.#stopReason = info.stopReason ?? "stopped";
        this.#stopTimeout = info.timeout;
        for (const listener of this.#stopListeners) listener(this.#stopReason);
        return this.#stoppedError("starting");
      }
      return "retry";
    } catch (err) {
      return err instanceof ConnectionError ? "retry" : (err as AtollError);
    }
  }

  #assertOpen(): void {
    if (this.#stopReason !== null) throw this.#stoppedError("starting");
    if (this.#closed) {
      throw new ConnectionError(
        `The session of sandbox ${this.sandboxId} is closed${this.#closeRequested ? " (close() was called)" : ""}; use Sandbox.connect(id) to open a new one`,
      );
    }
  }

  #assertRunning(id: number): void {
    this.#assertOpen();
    if (!this.#processes.has(id)) throw new InvalidArgumentError("Cannot write to stdin: the process has exited");
  }

  #onMessage(data: string | Uint8Array): void {
    if (typeof data !== "string") {
      const frame = decodeSessionFrame(data);
      const sink = frame && this.#processes.get(frame.id);
      if (!frame || !sink) return;
      if (frame.kind === FRAME_STDOUT) sink.stdout(frame.data);
      else if (frame.kind === FRAME_STDERR) sink.stderr(frame.data);
      return;
    }
    let message: SessionServerMessage;
    try {
      message = JSON.parse(data) as SessionServerMessage;
    } catch {
      return; // not ours to interpret
    }
    switch (message.type) {
      case "started":
        this.#started.add(message.id);
        this.#processes.get(message.id)?.started(message.pid);
        break;
      case "exit": {
        const sink = this.#processes.get(message.id);
        this.#processes.delete(message.id);
        this.#unacked.delete(message.id);
        this.#endStdin(message.id);
        this.#started.delete(message.id);
        sink?.exit(message.status);
        break;
      }
      case "error": {
        // After `started`, an error is about a request (e.g. a signal the daemon refused), not
        // the process: it keeps running and its exit will follow.
        if (this.#started.has(message.id)) break;
        const sink = this.#processes.get(message.id);
        this.#processes.delete(message.id);
        this.#unacked.delete(message.id);
        this.#endStdin(message.id);
        const { code, message: text } = message.error ?? {};
        const err = isApiErrorCode(code)
          ? errorFromWire({ error: { code, message: text } }, 0)
          : new ServerError("INTERNAL", `Could not start the process: ${text ?? "unknown error"}${code ? ` (${code})` : ""}`);
        sink?.fail(err);
        break;
      }
      case "stdin_ack": {
        const flow = this.#stdin.get(message.id);
        if (!flow) break;
        flow.unacked = Math.max(0, flow.unacked - message.bytes);
        for (const wake of flow.waiters.splice(0)) wake();
        break;
      }
      case "sandbox_stopped":
        this.#stopReason = message.reason ?? "stopped";
        this.#stopTimeout = message.timeout;
        for (const listener of this.#stopListeners) listener(this.#stopReason);
        break;
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    if (!this.#closeRequested && this.#stopReason === null && RECONNECTABLE_CLOSE_CODES.has(code)) {
      // The daemon went away (restart, crash) or the connection broke; the sandbox likely runs on.
      this.#socket = undefined;
      this.#failProcesses(() => this.#restartedError(code, reason));
      if (this.#eager) void this.#reconnect().catch(() => undefined);
      return;
    }
    this.#finish(() => this.#lostError(code, reason));
  }

  /** Ends the session for good: every process still running fails with `error()`. */
  #finish(error: () => AtollError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket = undefined;
    this.#outbox.length = 0;
    this.#failProcesses(error);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
  }

  #failProcesses(error: () => AtollError): void {
    const pending = [...this.#processes.values()];
    this.#processes.clear();
    this.#unacked.clear();
    this.#endStdin();
    this.#started.clear();
    for (const sink of pending) sink.fail(error());
  }

  #restartedError(code: number, reason: string): DaemonRestartedError {
    return new DaemonRestartedError(
      `The connection to the Atoll daemon was lost while a process of sandbox ${this.sandboxId} ran (close code ${code}${reason ? `: ${reason}` : ""}): ` +
        "the daemon restarted or the network failed. The sandbox keeps running and the process may too, but its output and exit status are lost to this program; " +
        "new commands on this Sandbox work once the daemon is back.",
      { sandboxId: this.sandboxId, closeCode: code, closeReason: reason },
    );
  }

  /**
   * SANDBOX_NOT_RUNNING saying why the sandbox stopped ("its timeout (5m) expired"). The daemon
   * reports the stop before it kills the sandbox's processes, so a command the stop kills fails
   * with this, not with its SIGKILL.
   */
  #stoppedError(when: "starting" | "running"): SandboxNotRunningError {
    const reason = this.#stopReason ?? "stopped";
    // `reason` repeats stopReason for programs written against earlier versions.
    return new SandboxNotRunningError("SANDBOX_NOT_RUNNING", sandboxStoppedMessage(this.sandboxId, reason, this.#stopTimeout, when), {
      sandboxId: this.sandboxId,
      stopReason: reason,
      reason,
      ...(this.#stopTimeout !== undefined ? { timeout: this.#stopTimeout } : {}),
    });
  }

  #lostError(code: number, reason: string): AtollError {
    if (this.#stopReason !== null) return this.#stoppedError("running");
    if (this.#closeRequested) {
      return new ConnectionError(`The session of sandbox ${this.sandboxId} was closed (close() was called) while the process was running`);
    }
    return new ConnectionError(
      `The session WebSocket of sandbox ${this.sandboxId} closed while the process was running (code ${code}${reason ? `: ${reason}` : ""})`,
      { closeCode: code, closeReason: reason },
    );
  }
}
