/**
 * Watches the lxcfs process of proc-view.ts: one this daemon started (its child, detached so it
 * outlives the daemon) or one a previous daemon run started (no longer anyone's child here:
 * watched by polling its pid). Its stderr is a file (`<run>/lxcfs.log`), read on demand.
 *
 * @example
 *   const w = watchPid(4242);
 *   void w.exited.then((e) => console.log(describeExit(e)));
 *   w.kill();
 */
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { type LauncherExit, exitLatch, pidRunning } from "./launcher-watch.js";

const POLL_MS = 2000;
const STDERR_KEEP = 8192;

export interface LxcfsWatch {
  readonly pid: number | undefined;
  /** undefined while it runs. */
  readonly exit: LauncherExit | undefined;
  /** Resolves once it has exited (never, once detached). */
  readonly exited: Promise<LauncherExit>;
  /** The last 8 KiB of its log. */
  stderr(): Promise<string>;
  kill(): void;
  /** Stops watching (daemon shutdown that leaves it running). */
  detach(): void;
}

async function tail(file: string | undefined): Promise<string> {
  if (!file) return "";
  return (await readFile(file, "utf8").catch(() => "")).slice(-STDERR_KEEP);
}

/** A child this daemon spawned; `logFile` holds its stderr. */
export function watchChild(child: ChildProcess, logFile: string): LxcfsWatch {
  const latch = exitLatch();
  const finish = latch.finish;
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => finish({ code, signal });
  const onError = (err: Error) => {
    if (child.pid === undefined) finish({ code: null, signal: null, error: err.message });
  };
  child.on("exit", onExit);
  child.on("error", onError);
  return {
    pid: child.pid,
    get exit() {
      return latch.exit;
    },
    exited: latch.exited,
    stderr: () => tail(logFile),
    kill: () => {
      if (latch.exit) return;
      child.ref(); // its exit is awaited now: keep the event loop up until it comes
      child.kill("SIGKILL");
    },
    detach: () => {
      child.off("exit", onExit);
    },
  };
}

/** A process that is not our child (adopted from a previous daemon run): polled by its pid. */
export function watchPid(pid: number, logFile?: string): LxcfsWatch {
  const latch = exitLatch();
  const timer = setInterval(() => {
    if (pidRunning(pid)) return;
    clearInterval(timer);
    latch.finish({ code: null, signal: null, error: "it exited (adopted from a previous daemon run)" });
  }, POLL_MS).unref();
  return {
    pid,
    get exit() {
      return latch.exit;
    },
    exited: latch.exited,
    stderr: () => tail(logFile),
    kill: () => {
      if (pidRunning(pid)) process.kill(pid, "SIGKILL");
      const wait = setInterval(() => {
        if (pidRunning(pid)) return;
        clearInterval(wait);
        clearInterval(timer);
        latch.finish({ code: null, signal: "SIGKILL" });
      }, 10);
    },
    detach: () => clearInterval(timer),
  };
}
