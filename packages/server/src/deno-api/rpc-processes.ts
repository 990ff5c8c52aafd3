/**
 * `spawn`, `processWait` and `processKill` of Deno's protocol on Atoll's SandboxSession (the same
 * process machinery as Atoll's session WebSocket): a spawned process's stdout and stderr become
 * outbound streams, its stdin an inbound one, and its pid is the pid inside the sandbox.
 */
import { AtollError, InvalidArgumentError, NotFoundError } from "atoll/contract";
import { z } from "zod";
import type { SandboxSession, SessionOutput } from "../core/sandbox-session.js";
import { signalNumberOf } from "../core/signals.js";
import type { RpcStreams } from "./rpc-streams.js";
import { parseParams } from "./rpc-params.js";

/** Exit statuses kept for a later processWait, per connection. */
const EXITED_KEPT_MAX = 1024;
/** Processes running at once, per connection. */
const RUNNING_MAX = 1024;

const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional();
const envSchema = z.record(z.string().max(4096), z.string().max(128 * 1024)).refine((e) => Object.keys(e).length <= 1024, "at most 1024 variables");

const spawnSchema = z.strictObject({
  command: z.string().min(1).max(4096),
  args: nullable(z.array(z.string().max(1024 * 1024)).max(100_000)),
  env: nullable(envSchema),
  clearEnv: nullable(z.boolean()),
  cwd: nullable(z.string().min(1).max(4096)),
  stdinStreamId: nullable(z.number().int().nonnegative()),
  stdout: z.enum(["piped", "null"]),
  stderr: z.enum(["piped", "null"]),
});
const waitSchema = z.strictObject({ pid: z.number().int(), vscode: nullable(z.boolean()) });
const killSchema = z.strictObject({ pid: z.number().int(), signal: nullable(z.string().max(32)), vscode: nullable(z.boolean()) });

/** Deno's exit status: a signalled process has code 128 + signal number. */
export interface DenoExitStatus {
  success: boolean;
  code: number;
  signal: string | null;
  oom: "high-confidence" | null;
}

interface Proc {
  sessionId: number;
  pid: number | undefined;
  stdout: number | null;
  stderr: number | null;
  spawned: { resolve(pid: number): void; reject(err: Error): void };
  exit: DenoExitStatus | undefined;
  waiters: ((s: DenoExitStatus) => void)[];
}

export class RpcProcesses {
  private nextSessionId = 1;
  private readonly bySessionId = new Map<number, Proc>();
  private readonly byPid = new Map<number, Proc>();
  /** Pids in exit order, to forget the oldest statuses nobody waited for. */
  private readonly exitedOrder: number[] = [];
  session!: SandboxSession;

  constructor(private readonly streams: RpcStreams) {}

  /** The session callbacks about processes (the connection adds the rest). */
  output(): Pick<SessionOutput, "started" | "stdout" | "stderr" | "exit" | "error" | "stdinAck"> {
    return {
      started: (id, pid) => {
        const p = this.bySessionId.get(id);
        if (!p) return;
        p.pid = pid;
        this.byPid.set(pid, p);
        p.spawned.resolve(pid);
      },
      stdout: (id, data, flushed) => this.forward(this.bySessionId.get(id)?.stdout, data, flushed),
      stderr: (id, data, flushed) => this.forward(this.bySessionId.get(id)?.stderr, data, flushed),
      exit: (id, status) => {
        const p = this.bySessionId.get(id);
        if (!p) return;
        this.bySessionId.delete(id);
        if (p.stdout !== null) this.streams.end(p.stdout);
        if (p.stderr !== null) this.streams.end(p.stderr);
        const signo = status.signal ? signalNumberOf(status.signal) : undefined;
        p.exit = {
          success: status.success,
          code: status.code ?? 128 + (signo ?? 0),
          signal: status.signal,
          oom: status.oom ? "high-confidence" : null,
        };
        for (const w of p.waiters.splice(0)) w(p.exit);
        this.remember(p);
      },
      error: (id, code, message) => {
        const p = this.bySessionId.get(id);
        if (!p) return;
        this.bySessionId.delete(id);
        if (p.stdout !== null) this.streams.end(p.stdout);
        if (p.stderr !== null) this.streams.end(p.stderr);
        // ENOENT like Deno's own spawn of a missing command.
        const err = new NotFoundError("NOT_FOUND", message, { errno: code === "INVALID_ARGUMENT" ? "ENOENT" : code });
        p.spawned.reject(code === "INVALID_ARGUMENT" ? err : new AtollError(code as never, message));
      },
      stdinAck: () => undefined,
    };
  }

  async spawn(params: unknown): Promise<{ pid: number; stdoutStreamId: number | null; stderrStreamId: number | null }> {
    const q = parseParams(spawnSchema, params);
    if (this.bySessionId.size >= RUNNING_MAX) throw new InvalidArgumentError(`At most ${RUNNING_MAX} processes may run per connection`);
    const sessionId = this.nextSessionId++;
    let spawned!: Proc["spawned"];
    const started = new Promise<number>((resolve, reject) => (spawned = { resolve, reject }));
    const proc: Proc = {
      sessionId,
      pid: undefined,
      stdout: q.stdout === "piped" ? this.streams.open() : null,
      stderr: q.stderr === "piped" ? this.streams.open() : null,
      spawned,
      exit: undefined,
      waiters: [],
    };
    this.bySessionId.set(sessionId, proc);
    const stdin = q.stdinStreamId !== undefined && q.stdinStreamId !== null;
    this.session.handle({
      type: "spawn",
      id: sessionId,
      cmd: q.command,
      args: q.args ?? [],
      ...(q.cwd ? { cwd: q.cwd } : {}),
      ...(q.env ? { env: q.env } : {}),
      clearEnv: q.clearEnv ?? false,
      user: "app",
      stdin,
    });
    if (stdin) {
      this.streams.claim(q.stdinStreamId!, {
        write: (data) => this.session.write(sessionId, data),
        end: () => this.session.handle({ type: "stdin_close", id: sessionId }),
        fail: () => this.session.handle({ type: "stdin_close", id: sessionId }),
      });
    }
    const pid = await started;
    return { pid, stdoutStreamId: proc.stdout, stderrStreamId: proc.stderr };
  }

  async wait(params: unknown): Promise<DenoExitStatus> {
    const { pid } = parseParams(waitSchema, params);
    const p = this.byPid.get(pid);
    if (!p) throw noSuchProcess(pid);
    if (p.exit) return p.exit;
    return new Promise((resolve) => p.waiters.push(resolve));
  }

  async kill(params: unknown): Promise<null> {
    const q = parseParams(killSchema, params);
    const p = this.byPid.get(q.pid);
    if (!p || p.exit) throw noSuchProcess(q.pid);
    const signal = q.signal ?? "SIGTERM";
    if (signalNumberOf(signal) === undefined) throw new InvalidArgumentError(`Unknown signal ${signal}: use a name such as "SIGTERM" or "SIGKILL"`);
    this.session.handle({ type: "signal", id: p.sessionId, signal });
    return null;
  }

  private forward(streamId: number | null | undefined, data: Uint8Array, flushed: () => void): void {
    if (streamId === null || streamId === undefined) return flushed();
    this.streams.send(streamId, data, flushed);
  }

  private remember(p: Proc): void {
    if (p.pid === undefined) return;
    this.exitedOrder.push(p.pid);
    while (this.exitedOrder.length > EXITED_KEPT_MAX) {
      const old = this.exitedOrder.shift()!;
      if (this.byPid.get(old)?.exit) this.byPid.delete(old);
    }
  }
}

function noSuchProcess(pid: number): AtollError {
  return new NotFoundError("NOT_FOUND", `No process ${pid} of this connection is running`, { errno: "ENOENT" });
}
