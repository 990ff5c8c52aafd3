/**
 * The bubblewrap runtime's FilesDriver (core/drivers.ts, docs/files.md): where atoll-fs runs.
 *
 * In a sandbox: the helper is bound read-only at /.atoll/fs in every sandbox (runtime/bwrap-args.ts)
 * and spawned through the sandbox's atoll-init like any command, as `app` or `root`, so the kernel
 * resolves every path in the sandbox's own mounts and root.
 *
 * On a volume that no sandbox needs to have mounted ("Volumes without a sandbox"): a throwaway
 * bubblewrap environment in the same user namespace mapping as sandboxes (atoll-launch, same
 * seccomp profile), whose root is an empty tmpfs holding only the helper. The daemon opens the
 * volume's host mount directory and hands it down as fd 3; the helper chroots into that directory
 * and becomes `app` (uid/gid 1000) before it touches anything, so volume files are handled with
 * the same rights and the same code as in a sandbox, and nothing but the volume is reachable. (A
 * bind of the fd would not do: bwrap resolves the path behind it, and `<state>/run/volumes` is
 * not searchable by sandbox uids.) Each run is one process tree that dies with its operation
 * (and with the daemon: --die-with-parent).
 */
import { spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { FilesDriver, ProcessHandle, ProcessSink, RuntimeSandbox } from "../core/drivers.js";
import { HOST_PATH } from "../host/run-command.js";
import { jailLaunchArgs } from "./jail-launch-args.js";

/** Where the helper is, in every sandbox and in every volume jail. */
const HELPER_PATH = "/.atoll/fs";
/** The user volume files are handled as: sandbox `app`. */
const APP_ID = "1000";

export interface BwrapFilesOptions {
  /** Directory holding atoll-launch and atoll-fs (native/build). */
  nativeDir: string;
  /** Host uid/gid of sandbox uid/gid 0. */
  uidBase: number;
  bwrap?: string;
  logger?: Logger;
}

export class BwrapFilesDriver implements FilesDriver {
  /** Volume jails still running. */
  private readonly running = new Set<ReturnType<typeof spawn>>();

  constructor(private readonly opts: BwrapFilesOptions) {}

  runInSandbox(sandbox: RuntimeSandbox, user: "app" | "root", argv: readonly string[], stdin: boolean, sink: ProcessSink): ProcessHandle {
    return sandbox.spawn({ argv: [HELPER_PATH, ...argv], env: {}, cwd: "/", user, stdin }, sink);
  }

  /**
   * Starts `atoll-fs --jail-fd 3 --uid 1000 --gid 1000 ARGV…` in a volume jail, with the host
   * directory `source` (the volume's host mount) open as fd 3.
   */
  runOnVolume(source: string, argv: readonly string[], stdin: boolean, sink: ProcessSink): ProcessHandle {
    // O_NOFOLLOW: source is the daemon's own mount point, never a path a sandbox controls.
    const fd = openSync(source, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    let child: ReturnType<typeof spawn>;
    try {
      const args = [
        ...jailLaunchArgs(this.opts.uidBase, this.opts.bwrap),
        "--ro-bind",
        path.join(this.opts.nativeDir, "atoll-fs"),
        HELPER_PATH,
        "--chdir",
        "/",
        "--",
        HELPER_PATH,
        "--jail-fd",
        "3",
        "--uid",
        APP_ID,
        "--gid",
        APP_ID,
        ...argv,
      ];
      child = spawn(path.join(this.opts.nativeDir, "atoll-launch"), args, {
        stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe", fd],
        env: { PATH: HOST_PATH },
      });
    } finally {
      closeSync(fd);
    }
    this.running.add(child);
    let spawnFailed = false;
    child.on("error", (err) => {
      spawnFailed = true;
      sink.onSpawnError(err.message, 0);
    });
    child.stdin?.on("error", () => undefined); // EPIPE once the helper exited
    child.stdout!.on("data", (d: Buffer) => sink.onStdout(d));
    child.stderr!.on("data", (d: Buffer) => sink.onStderr(d));
    child.on("spawn", () => sink.onStarted(child.pid ?? 0));
    child.on("close", (code, signal) => {
      this.running.delete(child);
      if (!spawnFailed) sink.onExit({ code, signal, oom: false });
    });
    return {
      write: (data) => {
        if (child.stdin && !child.stdin.writableEnded && !child.stdin.destroyed) child.stdin.write(data);
      },
      closeStdin: () => {
        if (child.stdin && !child.stdin.writableEnded) child.stdin.end();
      },
      signal: (sig) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(sig as NodeJS.Signals);
      },
      // The helper's output is bounded by the record protocol's own credit (files/fs-call.ts).
      ack: () => undefined,
    };
  }

  /** Kills every volume jail still running (daemon shutdown). */
  close(): void {
    for (const child of this.running) child.kill("SIGKILL");
  }
}
