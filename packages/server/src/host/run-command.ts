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

/**
 * Runs host tools (losetup, mkfs.ext4, mount, …) without a shell and returns their output;
 * throws HostCommandError with the tool's stderr when one fails. The daemon gives its drivers
 * one (its host spawner: forking from a small helper instead of the large daemon process keeps
 * the event loop free) at construction; CLIs and tests use `execFileRunner`. There is no global
 * runner: two daemons in one process each use their own.
 *
 * @example
 *   const { stdout } = await runner.run("losetup", ["--find", "--show", image], {});
 */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
}

/** The plain way to run a host command: execFile from this process. */
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

/** A CommandRunner that forks each command from this process (CLIs, tests, image builds). */
export const execFileRunner: CommandRunner = { run: execFileCommand };
