/**
 * Watches a spawned atoll-launch from the moment it exists: its stderr (kept, and passed on line
 * by line to whoever owns it now) and its exit. Attached right after spawn, so an exit or a
 * message that comes before a sandbox takes the launcher is never lost: Node drains the stdio of
 * an exited child that nobody reads, and an exit event is emitted once.
 *
 * @example
 *   const watch = watchLauncher(spawn(launcher, args, { stdio: "pipe" }));
 *   watch.onLine((line) => logger.warn({ stderr: line }, "sandbox stderr"));
 *   const exit = await watch.exited; // { code: 125, signal: null } …
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";

const STDERR_KEEP = 8192;

/** How a launcher ended: an exit code, a signal, or a spawn error. */
export interface LauncherExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

export interface LauncherWatch {
  readonly proc: ChildProcessWithoutNullStreams;
  /** The last 8 KiB of its stderr. */
  readonly stderr: string;
  /** undefined while it runs. */
  readonly exit: LauncherExit | undefined;
  /** Resolves (never rejects) once it has exited or failed to start. */
  readonly exited: Promise<LauncherExit>;
  /** From now on every complete stderr line also goes to `sink` (earlier ones are in `stderr`). */
  onLine(sink: (line: string) => void): void;
}

/** "exit code 125", "signal SIGKILL", "spawn error EAGAIN". */
export function describeExit(e: LauncherExit): string {
  if (e.error) return `could not start: ${e.error}`;
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

/** An exit recorded once: `exit` is set and `exited` resolves at the first finish(). */
export function exitLatch(): { readonly exit: LauncherExit | undefined; exited: Promise<LauncherExit>; finish(e: LauncherExit): void } {
  let exit: LauncherExit | undefined;
  let settle!: (e: LauncherExit) => void;
  const exited = new Promise<LauncherExit>((resolve) => (settle = resolve));
  return {
    get exit() {
      return exit;
    },
    exited,
    finish(e) {
      if (exit) return;
      exit = e;
      settle(e);
    },
  };
}

/** true while a process with this pid exists (ours or not; a zombie counts). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * true while the process with this pid runs: a zombie (it exited; whoever reaps it has not yet)
 * counts as ended. Processes of a previous daemon run (adopted shims) are reaped by the host's
 * init, which may do so seconds later, or never in a container without an init.
 */
export function pidRunning(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // "pid (comm) S …": comm may hold spaces and parentheses, so the state follows the last ")".
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false; // gone between the two checks
  }
}

export function watchLauncher(proc: ChildProcessWithoutNullStreams): LauncherWatch {
  let stderr = "";
  let partial = "";
  let sink: ((line: string) => void) | undefined;
  const latch = exitLatch();
  const finish = latch.finish;
  const exited = latch.exited;
  proc.on("exit", (code, signal) => finish({ code, signal }));
  // A spawn error (EAGAIN, ENOENT…) has no exit event.
  proc.on("error", (err) => {
    if (proc.pid === undefined) finish({ code: null, signal: null, error: err.message });
  });
  // Write errors (EPIPE once it died) surface as the control channel closing (agent-channel.ts).
  proc.stdin.on("error", () => undefined);
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP);
    const lines = (partial + text).split("\n");
    partial = lines.pop()!.slice(-STDERR_KEEP);
    for (const line of lines) if (line.trim() !== "") sink?.(line);
  });
  return {
    proc,
    get stderr() {
      return stderr;
    },
    get exit() {
      return latch.exit;
    },
    exited,
    onLine(s) {
      sink = s;
    },
  };
}
