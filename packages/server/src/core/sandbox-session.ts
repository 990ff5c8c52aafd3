import { constants } from "node:os";
import { signalNumberOf } from "./signals.js";
import { SESSION_STDIN_WINDOW, type SessionClientMessage } from "atoll/contract";
import type { CommandRecorder } from "./command-log.js";
import type { ProcessHandle, RuntimeSandbox } from "./drivers.js";
import { processEnv, resolveCwd } from "./process-env.js";
import type { ImageDefaults } from "./image-defaults.js";
import { SessionStream } from "./session-stream.js";

/** Where a session sends what its processes do (the session WebSocket, in the API layer). */
export interface SessionOutput {
  started(id: number, pid: number): void;
  /** `flushed` runs once the bytes left the daemon (written to the socket) or were dropped. */
  stdout(id: number, data: Uint8Array, flushed: () => void): void;
  stderr(id: number, data: Uint8Array, flushed: () => void): void;
  exit(id: number, status: { success: boolean; code: number | null; signal: string | null; oom: boolean }): void;
  error(id: number, code: string, message: string): void;
  /** The sandbox stops (`reason`: STOP_REASONS; `timeout`: its timeout setting); the transport should close. */
  stopped(reason: string, timeout?: string): void;
  /** `bytes` more of a process's stdin were consumed (clients that spawned with a `window`). */
  stdinAck(id: number, bytes: number): void;
  /** Stop (true) or resume reading the client's messages: stdin waits for a process (clients without a `window`). */
  pauseInput(paused: boolean): void;
  /** The client broke the session protocol: close the connection with `message`. */
  violation(message: string): void;
}

type SpawnMessage = Extract<SessionClientMessage, { type: "spawn" }>;

/** A process of this session: its handle, its two output streams, its stdin accounting. */
interface SessionProc {
  handle: ProcessHandle;
  stdout: SessionStream;
  stderr: SessionStream;
  /** The client spawned it with a `window`: it acknowledges output and respects stdin_acks. */
  acks: boolean;
  /** Stdin bytes the client sent that the process did not consume yet. */
  stdinUnacked: number;
}

/**
 * One client connection's processes in one sandbox. Processes outlive the session: when the
 * client goes away their output is dropped, and a "session" sandbox is killed by its service.
 */
export class SandboxSession {
  /** Processes started by this session that have not exited (they outlive a closed session). */
  private readonly procs = new Map<number, SessionProc>();
  private readonly used = new Set<number>();
  private closed = false;
  private inputPaused = false;

  constructor(
    private readonly runtime: RuntimeSandbox,
    private readonly sandboxEnv: () => Record<string, string>,
    private readonly out: SessionOutput,
    private readonly onClose: (session: SandboxSession) => void,
    /** Records every command in the sandbox's command log (optional). */
    private readonly recorder?: CommandRecorder,
    /** The imported image's WorkingDir and User the sandbox booted from (core/image-defaults.ts). */
    private readonly image?: ImageDefaults,
  ) {}

  handle(msg: SessionClientMessage): void {
    if (this.closed) return;
    switch (msg.type) {
      case "spawn":
        return this.spawn(msg);
      case "ack": {
        const p = this.procs.get(msg.id);
        p?.stdout.clientAck(msg.stdout);
        p?.stderr.clientAck(msg.stderr);
        return;
      }
      case "stdin_close":
        return this.procs.get(msg.id)?.handle.closeStdin();
      case "signal": {
        const sig = signalNumberOf(msg.signal);
        if (sig === undefined) return this.out.error(msg.id, "INVALID_ARGUMENT", `Unknown signal ${String(msg.signal)}`);
        return this.procs.get(msg.id)?.handle.signal(sig);
      }
    }
  }

  /**
   * Bytes for a process's stdin (binary frame kind 0). A client with a `window` may have at most
   * SESSION_STDIN_WINDOW unacknowledged (more closes the session); for others the session stops
   * reading the socket while the stdin waiting in the daemon for its processes is above it.
   */
  write(id: number, data: Uint8Array): void {
    const p = this.procs.get(id);
    if (!p || data.byteLength === 0 || this.closed) return;
    p.stdinUnacked += data.byteLength;
    if (p.acks && p.stdinUnacked > SESSION_STDIN_WINDOW) {
      return this.out.violation(`Process ${id}: more than ${SESSION_STDIN_WINDOW} bytes of stdin were sent before stdin_ack allowed them`);
    }
    p.handle.write(data);
    this.checkInput();
  }

  /** Pauses the socket while this client's processes without acknowledgements have too much stdin waiting in all. */
  private checkInput(): void {
    let waiting = 0;
    for (const p of this.procs.values()) if (!p.acks) waiting += p.handle.stdinBacklog ?? 0;
    const full = waiting > SESSION_STDIN_WINDOW;
    if (full !== this.inputPaused && !this.closed) {
      this.inputPaused = full;
      this.out.pauseInput(full);
    }
  }

  /** The sandbox stops: tell the client (before its processes are killed: their exits are not sent). */
  stop(reason: string, timeout?: string): void {
    if (this.closed) return;
    this.out.stopped(reason, timeout);
    this.close();
  }

  /** The client went away: its processes run on, their output is dropped (and acknowledged). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.procs.values()) {
      p.stdout.drop();
      p.stderr.drop();
    }
    this.onClose(this);
  }

  private spawn(msg: SpawnMessage): void {
    if (this.used.has(msg.id)) {
      return this.out.error(msg.id, "INVALID_ARGUMENT", `Process id ${msg.id} was already used in this session`);
    }
    this.used.add(msg.id);
    const id = msg.id;
    const live = () => !this.closed;
    const recorded = this.recorder?.started([msg.cmd, ...msg.args], msg.user);
    // The default user ("app") of a sandbox booted from an imported image is the image's User.
    const imageUser = msg.user === "app" ? (this.image?.user ?? undefined) : undefined;
    const window = msg.window ?? null;
    // The exit goes out after every byte of output was handed to the socket.
    let pendingExit: (() => void) | undefined;
    const flushExit = () => {
      if (pendingExit && stdout.idle && stderr.idle) {
        const send = pendingExit;
        pendingExit = undefined;
        send();
      }
    };
    const stdout = new SessionStream(
      window,
      (d, flushed) => this.out.stdout(id, d, flushed),
      (n) => proc.handle.ack("stdout", n),
      flushExit,
    );
    const stderr = new SessionStream(
      window,
      (d, flushed) => this.out.stderr(id, d, flushed),
      (n) => proc.handle.ack("stderr", n),
      flushExit,
    );
    // The handle is set right below; no event arrives before spawn() returns.
    const proc: SessionProc = { handle: undefined as unknown as ProcessHandle, stdout, stderr, acks: window !== null, stdinUnacked: 0 };
    proc.handle = this.runtime.spawn(
      {
        argv: [msg.cmd, ...msg.args],
        env: processEnv(msg.user, this.sandboxEnv(), msg.env, msg.clearEnv, imageUser),
        cwd: resolveCwd(msg.cwd, this.image?.workingDir ?? undefined),
        user: msg.user,
        ...(imageUser ? { ids: { uid: imageUser.uid, gid: imageUser.gid } } : {}),
        stdin: msg.stdin,
      },
      {
        onStarted: (pid) => live() && this.out.started(id, pid),
        onStdout: (data) => stdout.push(data),
        onStderr: (data) => stderr.push(data),
        onExit: (exit) => {
          recorded?.(exit);
          // Kept until its output is out: the client's acks still reach its streams.
          pendingExit = () => {
            this.procs.delete(id);
            if (live()) this.out.exit(id, { success: exit.code === 0, ...exit });
            this.checkInput();
          };
          flushExit();
        },
        onStdinAck: (bytes) => {
          proc.stdinUnacked = Math.max(0, proc.stdinUnacked - bytes);
          if (proc.acks && live()) this.out.stdinAck(id, bytes);
          this.checkInput();
        },
        onSpawnError: (message, errno) => {
          this.procs.delete(id);
          recorded?.({ spawnError: message });
          // ESRCH: the sandbox ended under the request (its stop notice follows), not a bad request.
          if (live()) this.out.error(id, errno === constants.errno.ESRCH ? "SANDBOX_NOT_RUNNING" : "INVALID_ARGUMENT", `Cannot start ${msg.cmd}: ${message}`);
        },
      },
    );
    this.procs.set(id, proc);
    if (this.closed) {
      stdout.drop();
      stderr.drop();
    }
  }
}
