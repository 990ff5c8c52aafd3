/** Helpers of the runtime's integration tests: a runtime without pools, run a command in a sandbox to completion. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ProcessExit, ProcessHandle, RuntimeSandbox } from "../core/drivers.js";
import { execFileRunner } from "../host/run-command.js";
import { BwrapRuntime } from "./bwrap-runtime.js";

/** The uid base of the runtime tests' sandboxes (their test rootfs is shifted to it). */
export const TEST_UID_BASE = 100000;
/** The built native helpers of this checkout. */
export const TEST_NATIVE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build");

/**
 * A bubblewrap runtime on `stateDir` (its mounts under `<stateDir>/run`) and its own cgroup
 * parent, with no warm pools: every sandbox is made from scratch, and a second runtime on the
 * same directory (orphan cleanup tests) cannot reap entries a pool is refilling.
 */
export function unpooledRuntime(stateDir: string, cgroupParent: string): BwrapRuntime {
  return new BwrapRuntime({
    stateDir,
    runDir: path.join(stateDir, "run"),
    uidBase: TEST_UID_BASE,
    nativeDir: TEST_NATIVE_DIR,
    runner: execFileRunner,
    cgroupParent,
    scratchPoolSize: 0,
    launcherPoolSize: 0,
  });
}

const PATH_ENV = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

export interface RunResult {
  exit?: ProcessExit;
  spawnError?: { message: string; errno: number };
  pid?: number;
  out: string;
  err: string;
}

/** Runs a command to completion. `onStarted` gets the handle (for stdin and signals). */
export function run(
  sb: RuntimeSandbox,
  argv: string[],
  opts: { user?: "app" | "root"; stdin?: string | Buffer; cwd?: string; onStarted?: (h: ProcessHandle) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = (): Omit<RunResult, "exit" | "spawnError"> => ({
      out: Buffer.concat(out).toString(),
      err: Buffer.concat(err).toString(),
      ...(pid ? { pid } : {}),
    });
    let pid = 0;
    let handle: ProcessHandle | undefined;
    handle = sb.spawn(
      { argv, env: { PATH: PATH_ENV, HOME: "/root" }, cwd: opts.cwd ?? "/", user: opts.user ?? "app", stdin: opts.stdin !== undefined },
      {
        onStarted: (p) => {
          pid = p;
          opts.onStarted?.(handle!);
        },
        onStdout: (d) => out.push(Buffer.from(d)),
        onStderr: (d) => err.push(Buffer.from(d)),
        onExit: (exit) => resolve({ exit, ...result() }),
        onSpawnError: (message, errno) => resolve({ spawnError: { message, errno }, ...result() }),
      },
    );
    if (opts.stdin !== undefined) {
      handle.write(Buffer.from(opts.stdin));
      handle.closeStdin();
    }
  });
}

export function sh(sb: RuntimeSandbox, script: string, user: "app" | "root" = "app") {
  return run(sb, ["sh", "-c", script], { user });
}

export function p50(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
