/**
 * `sandbox.sh` — a lazy, immutable command builder. Nothing runs until the builder is awaited
 * (it is a thenable) or `.spawn()`/`.text()`/`.json()`/`.lines()` is called; every modifier
 * returns a new builder and leaves the original untouched.
 */
import { type ChildProcess, collectStream } from "./child-process.js";
import { CommandError, exitCodeOf } from "./command-error.js";
import { type CommandStatus, CommandTimeoutError, InvalidArgumentError } from "./contract/index.js";
import { KillController, KillSignal } from "./kill-controller.js";
import { forwardOutput } from "./output-forwarding.js";
import type { SandboxUser, SpawnOptions, StdioMode } from "./spawn-options.js";

/**
 * What awaiting a `sh` command yields.
 *
 * @example const { status, stdoutText } = await sandbox.sh`uname -a`.stdout("piped");
 */
export interface ShellResult {
  /** How it ended; `code` is a number even when a signal killed it (128 + the signal number), as in Deno Sandbox. */
  status: CommandStatus & { code: number };
  /** Captured stdout (empty when stdout is "null"). */
  stdout: Uint8Array;
  /** Captured stderr (empty when stderr is "null"). */
  stderr: Uint8Array;
  /** `stdout` decoded as UTF-8. */
  stdoutText: string;
  /** `stderr` decoded as UTF-8. */
  stderrText: string;
}

/**
 * Data for `.stdin()`. A ReadableStream can be consumed only once.
 *
 * @example await sandbox.sh`sort`.stdin("b\na\n");
 */
export type ShellStdin = string | Uint8Array | ReadableStream<Uint8Array>;

/** Starts a process; provided by the sandbox. */
export type SpawnFn = (cmd: string, options: SpawnOptions) => Promise<ChildProcess>;

interface ShellState {
  readonly script: string;
  readonly cwd: string | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly user: SandboxUser;
  readonly stdin: ShellStdin | undefined;
  readonly stdout: StdioMode;
  readonly stderr: StdioMode;
  readonly killSignal: KillSignal | undefined;
  readonly timeoutMs: number | undefined;
  readonly noThrow: boolean;
}

const MODES: readonly StdioMode[] = ["piped", "inherit", "null"];
const decoder = new TextDecoder();

function checkMode(which: string, mode: unknown): StdioMode {
  if (!MODES.includes(mode as StdioMode)) {
    throw new InvalidArgumentError(`sh: .${which}() takes "piped", "inherit" or "null", got ${JSON.stringify(mode)}`);
  }
  return mode as StdioMode;
}

/** Kill the process on timeout; remember that it happened. */
class Watchdog {
  reason: "timeout" | null = null;
  #child: ChildProcess | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timeoutMs: number | undefined) {
    if (timeoutMs !== undefined) this.#timer = setTimeout(() => this.#trip("timeout"), timeoutMs);
  }

  attach(child: ChildProcess): void {
    this.#child = child;
    if (this.reason) child.kill("SIGKILL");
  }

  #trip(reason: "timeout"): void {
    if (this.reason) return;
    this.reason = reason;
    this.#child?.kill("SIGKILL");
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * A shell command built by `` sandbox.sh`…` ``. Await it to run it.
 *
 * @example
 *   const name = "my file.txt";
 *   await sandbox.sh`touch ${name}`;                       // quoted: one argument
 *   const files = await sandbox.sh`ls`.cwd("/tmp").lines();
 *   const r = await sandbox.sh`exit 3`.noThrow();          // r.status.code === 3
 */
export class ShellCommand implements Promise<ShellResult> {
  readonly #spawn: SpawnFn;
  readonly #state: ShellState;

  /** @internal Use `` sandbox.sh`…` ``. `env` carries the values of `secret()` interpolations. */
  constructor(spawn: SpawnFn, script: string, state?: ShellState, env: Record<string, string> = {}) {
    this.#spawn = spawn;
    this.#state = state ?? {
      script,
      cwd: undefined,
      env,
      user: "app",
      stdin: undefined,
      stdout: "inherit",
      stderr: "inherit",
      killSignal: undefined,
      timeoutMs: undefined,
      noThrow: false,
    };
  }

  /** The script that will run as `/bin/bash -c SCRIPT` (bash, as in Deno Sandbox). */
  get script(): string {
    return this.#state.script;
  }

  #with(patch: Partial<ShellState>): ShellCommand {
    return new ShellCommand(this.#spawn, this.#state.script, { ...this.#state, ...patch });
  }

  /** Do not throw SandboxCommandError on a non-zero exit (`noThrow(false)` undoes it). @example const { status } = await sandbox.sh`test -f x`.noThrow(); */
  noThrow(value = true): ShellCommand {
    return this.#with({ noThrow: value });
  }

  /** Working directory; relative paths resolve against /home/app. @example await sandbox.sh`ls`.cwd("/tmp"); */
  cwd(path: string): ShellCommand {
    if (typeof path !== "string" || path === "") throw new InvalidArgumentError("sh: .cwd() takes a non-empty path");
    return this.#with({ cwd: path });
  }

  /**
   * Adds environment variables (accumulates over calls).
   *
   * @example await sandbox.sh`echo $A $B`.env({ A: "1" }).env("B", "2");
   */
  env(vars: Record<string, string>): ShellCommand;
  env(name: string, value: string): ShellCommand;
  env(nameOrVars: string | Record<string, string>, value?: string): ShellCommand {
    const add = typeof nameOrVars === "string" ? { [nameOrVars]: value as string } : nameOrVars;
    if (add === null || typeof add !== "object") throw new InvalidArgumentError("sh: .env() takes an object or a name and a value");
    for (const [k, v] of Object.entries(add)) {
      if (typeof v !== "string") throw new InvalidArgumentError(`sh: .env(): the value of ${k} must be a string, got ${typeof v}`);
    }
    return this.#with({ env: { ...this.#state.env, ...add } });
  }

  /** Runs as sandbox root instead of `app` (`sudo(false)` undoes it). @example await sandbox.sh`apt-get install -y jq`.sudo(); */
  sudo(enable = true): ShellCommand {
    return this.#with({ user: enable ? "root" : "app" });
  }

  /** Feeds data to the command's stdin. @example await sandbox.sh`wc -l`.stdin("a\nb\n").text(); */
  stdin(data: ShellStdin): ShellCommand {
    if (typeof data !== "string" && !(data instanceof Uint8Array) && !(data instanceof ReadableStream)) {
      throw new InvalidArgumentError("sh: .stdin() takes a string, a Uint8Array or a ReadableStream<Uint8Array>");
    }
    return this.#with({ stdin: data });
  }

  /**
   * stdout handling: "inherit" (default: print to this program's stdout and capture),
   * "piped" (capture only) or "null" (discard).
   *
   * @example const { stdoutText } = await sandbox.sh`date`.stdout("piped");
   */
  stdout(mode: StdioMode): ShellCommand {
    return this.#with({ stdout: checkMode("stdout", mode) });
  }

  /** Like `.stdout()`, for stderr. @example await sandbox.sh`make`.stderr("null"); */
  stderr(mode: StdioMode): ShellCommand {
    return this.#with({ stderr: checkMode("stderr", mode) });
  }

  /**
   * A KillSignal (Deno's `KillController`): each signal sent is passed to the command, which ends
   * as the signal makes it end (a SandboxCommandError with code 128 + the signal number unless
   * `.noThrow()`); once aborted, the command does not start at all. An AbortSignal, as in Deno
   * Sandbox: aborting sends SIGTERM, like `KillController.kill()` (so exit code 143).
   *
   * @example await sandbox.sh`sleep 9`.signal(AbortSignal.timeout(500)).noThrow(); // status.code 143
   */
  signal(signal: AbortSignal | KillSignal): ShellCommand {
    if (signal instanceof KillSignal) return this.#with({ killSignal: signal });
    if (!(signal instanceof AbortSignal)) throw new InvalidArgumentError("sh: .signal() takes an AbortSignal or a KillSignal");
    const controller = new KillController();
    if (signal.aborted) controller.kill();
    else signal.addEventListener("abort", () => controller.kill(), { once: true });
    return this.#with({ killSignal: controller.signal });
  }

  /** Kills the command with SIGKILL after `ms` and throws CommandTimeoutError (even with noThrow). @example await sandbox.sh`sleep 9`.timeout(1000); */
  timeout(ms: number): ShellCommand {
    if (!Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError(`sh: .timeout() takes a positive number of milliseconds, got ${ms}`);
    return this.#with({ timeoutMs: ms });
  }

  /**
   * Runs and returns stdout as text, untouched (as in Deno Sandbox: the trailing newline stays).
   *
   * @example const v = (await sandbox.sh`node -v`.text()).trim();
   */
  async text(): Promise<string> {
    const result = await this.#with({ stdout: "piped" }).#run();
    return result.stdoutText;
  }

  /**
   * Runs the command and returns its full result (Deno Sandbox's `.result()`; the same as
   * awaiting the builder).
   *
   * @example const { status, stdoutText } = await sandbox.sh`echo hi`.stdout("piped").result();
   */
  result(): Promise<ShellResult> {
    return this.#run();
  }

  /** Runs and parses stdout as JSON. @example const pkg = await sandbox.sh`cat package.json`.json<{ name: string }>(); */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      const preview = text.length > 200 ? `${text.slice(0, 200)}…` : text;
      throw new SyntaxError(`sh: the command's stdout is not JSON (${(e as Error).message}): ${preview}`);
    }
  }

  /** Runs and splits stdout into lines (no trailing empty line). @example for (const f of await sandbox.sh`ls`.lines()) console.log(f); */
  async lines(): Promise<string[]> {
    const text = (await this.text()).replace(/(?:\r?\n)+$/, "");
    return text === "" ? [] : text.split(/\r?\n/);
  }

  /**
   * Starts the command and returns the process without waiting for it (no capture, no
   * CommandError). `.stdin()` data is fed in; `.timeout()` kills with SIGKILL, `.signal()` passes its signals on.
   *
   * @example const child = await sandbox.sh`tail -f log`.stdout("piped").spawn();
   */
  async spawn(): Promise<ChildProcess> {
    const s = this.#state;
    const watchdog = new Watchdog(s.timeoutMs);
    try {
      const child = await this.#start(s.stdout, s.stderr);
      watchdog.attach(child);
      this.#forwardKills(child);
      child.status.then(
        () => watchdog.dispose(),
        () => watchdog.dispose(),
      );
      return child;
    } catch (e) {
      watchdog.dispose();
      throw e;
    }
  }

  /** Runs the command (each call runs it again). Awaiting the builder calls this. */
  // biome-ignore lint/suspicious/noThenProperty: the builder is a thenable on purpose: `await sandbox.sh` runs it
  then<R1 = ShellResult, R2 = never>(
    onfulfilled?: ((value: ShellResult) => R1 | PromiseLike<R1>) | null,
    // biome-ignore lint/suspicious/noExplicitAny: as in Promise#then, so handlers can type their parameter
    onrejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#run().then(onfulfilled, onrejected);
  }

  /** Runs the command and handles a rejection. */
  // biome-ignore lint/suspicious/noExplicitAny: as in Promise#catch
  catch<R = never>(onrejected?: ((reason: any) => R | PromiseLike<R>) | null): Promise<ShellResult | R> {
    return this.#run().catch(onrejected);
  }

  /** Runs the command, then calls `onfinally`. */
  finally(onfinally?: (() => void) | null): Promise<ShellResult> {
    return this.#run().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return "ShellCommand";
  }

  #start(stdout: StdioMode, stderr: StdioMode): Promise<ChildProcess> {
    const s = this.#state;
    return this.#spawn("/bin/bash", {
      args: ["-c", s.script],
      cwd: s.cwd,
      env: { ...s.env },
      user: s.user,
      stdin: s.stdin === undefined ? "null" : "piped",
      stdout,
      stderr,
    }).then((child) => {
      if (s.stdin !== undefined && child.stdin) feedStdin(child.stdin, s.stdin);
      return child;
    });
  }

  async #run(): Promise<ShellResult> {
    const s = this.#state;
    const killedCode = s.killSignal?.abortedExitCode;
    if (killedCode !== undefined) return this.#finish({ success: false, code: killedCode, signal: null, oom: false }, new Uint8Array(0), new Uint8Array(0));
    const watchdog = new Watchdog(s.timeoutMs);
    try {
      // Capture whatever is not discarded; "inherit" is forwarded while it is captured.
      const child = await this.#start(s.stdout === "null" ? "null" : "piped", s.stderr === "null" ? "null" : "piped");
      watchdog.attach(child);
      this.#forwardKills(child);
      const [stdout, stderr, status] = await Promise.all([
        collectStream(child.stdout, s.stdout === "inherit" ? (c) => forwardOutput("stdout", c) : undefined),
        collectStream(child.stderr, s.stderr === "inherit" ? (c) => forwardOutput("stderr", c) : undefined),
        child.status,
      ]);
      if (watchdog.reason === "timeout") throw new CommandTimeoutError(s.script, s.timeoutMs ?? 0);
      return this.#finish(status, stdout, stderr);
    } finally {
      watchdog.dispose();
    }
  }

  /** The result, or SandboxCommandError. `status.code` is always a number, as in Deno Sandbox (128 + the signal number when a signal killed the process). */
  #finish(raw: CommandStatus, stdout: Uint8Array, stderr: Uint8Array): ShellResult {
    const status = { ...raw, code: exitCodeOf(raw) };
    const stdoutText = decoder.decode(stdout);
    const stderrText = decoder.decode(stderr);
    if (!status.success && !this.#state.noThrow) throw new CommandError(status, stdoutText, stderrText);
    return { status, stdout, stderr, stdoutText, stderrText };
  }

  /** Passes the signals of a `.signal(killSignal)` on to `child` until it exits. */
  #forwardKills(child: ChildProcess): void {
    const killSignal = this.#state.killSignal;
    if (!killSignal) return;
    const listener = (signal: string) => child.kill(signal);
    killSignal.addListener(listener);
    // Aborted while the process was starting: the signal sent meanwhile reached no process.
    const aborted = killSignal.abortedExitCode;
    if (aborted !== undefined) child.kill(aborted - 128);
    const done = () => killSignal.removeListener(listener);
    child.status.then(done, done);
  }
}

/** Writes the `.stdin()` data and closes stdin. Errors (the command exited early) are ignored. */
function feedStdin(stdin: WritableStream<Uint8Array>, data: ShellStdin): void {
  if (data instanceof ReadableStream) {
    data.pipeTo(stdin).catch(() => undefined);
    return;
  }
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const writer = stdin.getWriter();
  writer
    .write(bytes)
    .then(() => writer.close())
    .catch(() => undefined);
}
