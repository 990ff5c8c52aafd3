import { execFile } from "node:child_process";
import { AtollError } from "atoll/contract";

/** PATH for host tools the daemon runs (never the caller's environment). */
export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Output of a finished host command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * A host command that exited non-zero or could not start (code HOST_COMMAND_FAILED). Internal:
 * a client that meets it gets INTERNAL, never the command line or its stderr (the log has them).
 */
export class HostCommandError extends AtollError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super("HOST_COMMAND_FAILED", `${argv.join(" ")} failed (exit ${exitCode ?? "?"}): ${stderr.trim() || "no output"}`, undefined, options);
  }
}

/** Something that runs host commands for runCommand (see setCommandRunner). */
export interface CommandRunner {
  run(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
}

let runner: CommandRunner | undefined;

/**
 * Routes every later runCommand through `r` (the daemon's host spawner: forking from a small
 * helper instead of the large daemon process keeps the event loop free), or back to plain
 * execFile with `undefined`.
 */
export function setCommandRunner(r: CommandRunner | undefined): void {
  runner = r;
}

/**
 * Runs a host tool (losetup, mkfs.ext4, mount, …) without a shell and returns its output.
 * Throws HostCommandError with the tool's stderr when it fails.
 *
 * @example
 *   const { stdout } = await runCommand("losetup", ["--find", "--show", image]);
 */
export function runCommand(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  if (runner) return runner.run(file, args, options);
  return execFileCommand(file, args, options);
}

/** runCommand's plain implementation: execFile from this process. */
export function execFileCommand(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 }, (error, stdout, stderr) => {
      if (error) {
        const code = typeof error.code === "number" ? error.code : null;
        reject(new HostCommandError([file, ...args], code, stderr || error.message, { cause: error }));
      } else {
        resolve({ stdout, stderr });
      }
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
