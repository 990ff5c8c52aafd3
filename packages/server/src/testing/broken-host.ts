/**
 * Runs the real `atoll` binary on a host that lacks something, without changing the host: the
 * breakage (a read-only or full state directory, a host tool that is not installed) is made in
 * a private mount namespace of that one process and disappears with it.
 *
 * @example
 *   const r = await runAtollBroken([hideTool("/usr/bin/bwrap", scratch)], ["doctor", "--state-dir", dir]);
 *   assert.equal(r.code, 1);
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";
import { quoteShellArg } from "atoll/contract";
import { type CliRun, runToEnd } from "./cli-runner.js";

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
  const [file, argv] =
    setups.length === 0
      ? [process.execPath, [MAIN, ...args]]
      : ["unshare", ["--mount", "--propagation", "private", "sh", "-c", script, process.execPath, MAIN, ...args]];
  return runToEnd(file, argv, { env });
}

/**
 * A directory for one test file under /var/tmp (removed when the file's tests end, mode 0755 so
 * sandbox root passes through) and fresh state directories in it.
 *
 * @example const { work, stateDir } = testWorkDir("atoll-doctor-test-"); const dir = stateDir();
 */
export function testWorkDir(prefix: string): { work: string; stateDir(): string } {
  const work = mkdtempSync(join("/var/tmp", prefix));
  chmodSync(work, 0o755);
  after(() => rmSync(work, { recursive: true, force: true }));
  let n = 0;
  return {
    work,
    stateDir() {
      const dir = join(work, `state-${++n}`);
      mkdirSync(dir);
      return dir;
    },
  };
}
