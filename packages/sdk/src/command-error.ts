/**
 * `SandboxCommandError`: what a failed `sh` command throws. Shaped like Deno Sandbox's error of
 * the same name (docs/deno-compatibility.md): `code` is the exit code, and the message leaves
 * out the command text so that secrets in a command never reach a log.
 */
import type { CommandStatus } from "./contract/index.js";

/** Exit codes a shell reports for a process killed by these signals (128 + the signal number). */
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * The exit code of a finished command as a number: its own code, or 128 + the signal number
 * when a signal killed it (as bash reports it in `$?`).
 *
 * @example exitCodeOf({ success: false, code: null, signal: "SIGTERM", oom: false }) === 143
 */
export function exitCodeOf(status: CommandStatus): number {
  if (status.code !== null) return status.code;
  return 128 + (status.signal ? (SIGNAL_NUMBERS[status.signal] ?? 0) : 0);
}

/**
 * A command exited non-zero (or was killed) and `.noThrow()` was not used. As in Deno Sandbox,
 * `code` is the exit code (128 + the signal number when a signal killed it) and it extends
 * `Error`, not `AtollError` (whose `code` is a string): Deno's meaning of the name wins.
 * `CommandError` is the same class under Atoll's earlier name.
 *
 * @example
 *   import { SandboxCommandError } from "atoll";
 *   try { await sandbox.sh`exit 3`; }
 *   catch (e) { if (e instanceof SandboxCommandError) console.log(e.code, e.stderr); } // 3
 */
export class SandboxCommandError extends Error {
  /** The exit code, as in Deno Sandbox. */
  readonly code: number;
  /** The process's own exit code, or null when a signal killed it. */
  readonly exitCode: number | null;
  /** The signal that killed the process, if one did. */
  readonly signal: string | null;
  /** True when the sandbox's memory limit killed it. */
  readonly oom: boolean;
  /** Captured stdout ("" when it was not captured). */
  readonly stdout: string;
  /** Captured stderr ("" when it was not captured). */
  readonly stderr: string;

  /** @internal Thrown by `sh` commands; `status` is the finished command's. */
  constructor(status: CommandStatus, stdout: string, stderr: string) {
    const code = exitCodeOf(status);
    const why = status.signal ? `was killed by ${status.signal} (exit code ${code})` : `failed with exit code ${code}`;
    const oom = status.oom ? " (out of memory: the sandbox's memory limit killed it; raise `memory` in Sandbox.create)" : "";
    const tail = stderr.trim().split("\n").slice(-5).join("\n");
    super(`Command ${why}${oom}${tail ? `\n${tail}` : ""}`);
    this.name = "SandboxCommandError";
    this.code = code;
    this.exitCode = status.code;
    this.signal = status.signal;
    this.oom = status.oom;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/**
 * Atoll's earlier name of `SandboxCommandError`. Failed commands throw this subclass, so both
 * `instanceof CommandError` and `instanceof SandboxCommandError` hold for them.
 *
 * @example try { await sandbox.sh`false`; } catch (e) { if (e instanceof CommandError) console.log(e.exitCode); }
 */
export class CommandError extends SandboxCommandError {}
