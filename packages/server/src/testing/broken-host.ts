/**
 * Runs the real `atoll` binary on a host that lacks something, without changing the host: the
 * breakage (a read-only or full state directory, a host tool that is not installed) is made in
 * a private mount namespace of that one process and disappears with it.
 *
 * @example
 *   const r = await runAtollBroken([hideTool("/usr/bin/bwrap", scratch)], ["doctor", "--state-dir", dir]);
 *   assert.equal(r.code, 1);
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { quoteShellArg } from "atoll/contract";
import type { CliRun } from "./cli-runner.js";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** Shell commands that make `dir` a read-only bind mount of itself. */
export function readOnly(dir: string): string {
  return `mount --bind ${quoteShellArg(dir)} ${quoteShellArg(dir)} && mount -o remount,bind,ro ${quoteShellArg(dir)}`;
}

/** Shell commands that mount a tiny tmpfs on `dir` and fill it up. */
export function full(dir: string): string {
  return `mount -t tmpfs -o size=1m atoll-test-full ${quoteShellArg(dir)} && { dd if=/dev/zero of=${quoteShellArg(`${dir}/fill`)} bs=64k 2>/dev/null; true; }`;
}

/**
 * Shell commands that make the host tool at `path` disappear: an overlay on its directory (upper
 * and work directories in `scratch`, which must be on a filesystem other than overlayfs) in
 * which it is deleted. Everything else in that directory stays.
 */
export function hideTool(path: string, scratch: string): string {
  const layer = mkdtempSync(join(scratch, `hide-${basename(path)}-`));
  const [upper, work] = [join(layer, "upper"), join(layer, "work")];
  mkdirSync(upper);
  mkdirSync(work);
  const dir = dirname(path);
  return `mount -t overlay atoll-test-hide -o ${quoteShellArg(`lowerdir=${dir},upperdir=${upper},workdir=${work}`)} ${quoteShellArg(dir)} && rm ${quoteShellArg(path)}`;
}

/**
 * Runs `atoll ARGS…` after `setups` (shell commands, see above) in a private mount namespace
 * (none without setups).
 * Resolves when it exits.
 */
export function runAtollBroken(setups: readonly string[], args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  const script = [...setups, 'exec "$0" "$@"'].join(" && ");
  // Without setups, no namespace either: what the process mounts stays visible to leak checks.
  const [file, argv] = setups.length === 0 ? [process.execPath, [MAIN, ...args]] : ["unshare", ["--mount", "--propagation", "private", "sh", "-c", script, process.execPath, MAIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
