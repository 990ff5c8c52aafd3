/**
 * Runs a host tool for the test:vm image build (apt-get, dpkg-deb, mmdebstrap's helpers, xz,
 * cpio, mke2fs): binary stdin/stdout, a working directory, and an error that carries the tool's
 * last lines of stderr.
 */
import { spawn } from "node:child_process";
import { HOST_PATH } from "../host/run-command.js";

const STDERR_KEEP = 16 * 1024;

/**
 * Runs `file args` and resolves with its stdout; rejects when it exits non-zero, is killed, or
 * runs past `timeoutMs` (default 10 minutes).
 *
 * @example const deb = await runTool("apt-get", ["download", "linux-image-amd64"], { cwd: work });
 */
export function runTool(file: string, args: readonly string[], options: { cwd?: string; input?: Buffer; timeoutMs?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, PATH: `${process.env.PATH ?? ""}:${HOST_PATH}`, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C.UTF-8" },
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-STDERR_KEEP)));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${[file, ...args].join(" ")} failed (${signal ?? `exit ${code}`}): ${err.trim() || "no output"}`));
    });
    child.stdin.on("error", () => undefined); // a tool that exits early closes its stdin
    child.stdin.end(options.input);
  });
}
