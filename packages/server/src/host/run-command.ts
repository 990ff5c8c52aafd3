import { execFile } from "node:child_process";

/** Output of a finished host command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** A host command that exited non-zero or could not start. */
export class HostCommandError extends Error {
  /** API error code this maps to when it reaches a client. */
  readonly code = "HOST_ERROR";
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(" ")} failed (exit ${exitCode ?? "?"}): ${stderr.trim() || "no output"}`);
    this.name = "HostCommandError";
  }
}

/**
 * Runs a host tool (losetup, mkfs.ext4, mount, …) without a shell and returns its output.
 * Throws HostCommandError with the tool's stderr when it fails.
 *
 * @example
 *   const { stdout } = await runCommand("losetup", ["--find", "--show", image]);
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === "number" ? error.code : null;
          reject(new HostCommandError([file, ...args], code, stderr || error.message));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
