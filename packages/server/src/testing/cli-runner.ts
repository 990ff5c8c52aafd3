import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** What one run of the `atoll` binary did. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `atoll` binary against a daemon (`--url`, `--token`), feeding `input` to its
 * stdin, for tests that check what a user sees.
 *
 * @example const r = await runCli(daemon, ["volume", "ls"]); assert.equal(r.code, 0);
 */
export function runCli(daemon: { url: string; token: string }, args: readonly string[], input?: string): Promise<CliRun> {
  return runToEnd(process.execPath, [MAIN, "--url", daemon.url, "--token", daemon.token, ...args], { input });
}

/** Runs `file argv…` with `input` on stdin (none: stdin closed) and collects its output until it exits. */
export function runToEnd(file: string, argv: readonly string[], options: { input?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: "pipe", env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
