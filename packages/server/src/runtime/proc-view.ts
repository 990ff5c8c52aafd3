/**
 * The sandboxes' view of /proc: one lxcfs (Debian's `lxcfs`, a FUSE filesystem) for all the
 * sandboxes of a daemon, mounted at `<run>/lxcfs`. Each sandbox's bwrap binds its files over
 * /proc/meminfo, /proc/swaps and /proc/uptime, and lxcfs answers each read with the figures of
 * the reading process's own cgroup and pid namespace (memory limit and usage, no swap, the
 * sandbox's uptime), so `free`, `top`, `os.totalmem()` see a machine of the sandbox's size.
 *
 * Not bound, on purpose:
 * - /proc/cpuinfo and /proc/stat: Atoll shares CPU by weight, so every host CPU may run a
 *   sandbox and the host's files are true; lxcfs's versions follow the *cpuset* cgroup, which
 *   sandboxes do not have (on v1 it shows the host's figures anyway; on v2 without a delegated
 *   cpuset it can answer with an empty file, which breaks `ps` and `os.cpus()`).
 * - /proc/loadavg: lxcfs virtualises it only with a thread that reads the status of every task
 *   of every sandbox every 5 s, work no sandbox pays for.
 *
 * lxcfs is shared by every tenant, so:
 * - it runs in a cgroup of its own (`<parent>/lxcfs.view`, the CPU weight of one default
 *   sandbox, bounded memory and pids): a sandbox that floods it with reads gets at most one more
 *   sandbox's share of the CPU, never the host's;
 * - it dies with the daemon (`setpriv --pdeathsig KILL`) and is restarted (with backoff) when it
 *   exits; sandboxes started while it is down get the host's /proc files instead of failing;
 * - sandboxes never see its mount: only single files are bound (no cgroup emulation, no
 *   directory), and lxcfs picks the figures from the caller's pid, which the kernel supplies.
 * Known limit of Debian 12's lxcfs 5.0: files in tmpfs (/dev/shm) count as available memory.
 */
import { mkdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LIMITS } from "atoll/contract";
import type { Logger } from "pino";
import type { SandboxLimits } from "../core/drivers.js";
import { findExecutable } from "../image/bootstrap-runner.js";
import { findMount, umount } from "../host/mounts.js";
import { type CommandRunner, HOST_PATH } from "../host/run-command.js";
import type { CgroupDriver } from "./cgroups.js";
import { type LauncherWatch, describeExit, watchLauncher } from "./launcher-watch.js";
import { DaemonError } from "../daemon-error.js";

/** /proc files bound from lxcfs into every sandbox. */
export const PROC_VIEW_FILES = ["meminfo", "swaps", "uptime"] as const;

/** cgroup of the lxcfs process, under the daemon's parent (not a sandbox id: orphan cleanup skips it). */
export const PROC_VIEW_CGROUP = "lxcfs.view";

/** lxcfs's own budget: one default sandbox's CPU weight; memory and pids far above what it needs. */
const LXCFS_LIMITS: SandboxLimits = { memoryBytes: 256 * 2 ** 20, pids: 256, cpuWeight: LIMITS.cpuWeightDefault, rootfsBytes: 0 };
const READY_TIMEOUT_MS = 10_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 60_000;

export interface ProcViewOptions {
  /** `<state>/run`: lxcfs mounts at `<runDir>/lxcfs`, its pid file is `<runDir>/lxcfs.pid`. */
  runDir: string;
  cgroups: CgroupDriver;
  /** Runs umount (the daemon's host spawner). */
  runner: CommandRunner;
  logger?: Logger | undefined;
  /** lxcfs executable (default: `lxcfs` on PATH); tests use another. */
  lxcfs?: string;
}

export class ProcView {
  readonly mountPoint: string;
  private readonly pidFile: string;
  private watch: LauncherWatch | undefined;
  private serving = false;
  private stopping = false;
  private restartDelay = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  /** Serving through another runtime's lxcfs (othersLxcfs): nothing here to stop. */
  private shared = false;

  constructor(private readonly opts: ProcViewOptions) {
    this.mountPoint = path.join(opts.runDir, "lxcfs");
    this.pidFile = path.join(opts.runDir, "lxcfs.pid");
  }

  /**
   * bwrap options binding the lxcfs files over the new /proc (place after `--proc /proc`), or
   * none while lxcfs is not serving: a sandbox then sees the host's files rather than failing.
   */
  bwrapArgs(): string[] {
    if (!this.serving) return [];
    return PROC_VIEW_FILES.flatMap((f) => ["--ro-bind", `${this.mountPoint}/proc/${f}`, `/proc/${f}`]);
  }

  /**
   * Starts lxcfs and waits until its files answer. Never throws: without lxcfs (not installed,
   * no /dev/fuse) sandboxes see the host's /proc files, and the reason is logged with the fix.
   */
  start(): Promise<void> {
    this.stopping = false;
    this.starting ??= this.launch().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async launch(): Promise<void> {
    const binary = this.opts.lxcfs ?? findExecutable("lxcfs");
    const setpriv = findExecutable("setpriv");
    if (!binary || !setpriv) {
      this.opts.logger?.warn(
        `${binary ? "setpriv" : "lxcfs"} is not installed: sandboxes see the host's memory in /proc/meminfo. Install it: apt-get install ${binary ? "util-linux" : "lxcfs"}`,
      );
      return;
    }
    try {
      if (await this.othersLxcfs()) {
        // Another runtime on this state directory (tests do that) serves it: share, never stop it.
        this.shared = true;
        this.serving = (await findMount(this.mountPoint))?.fsType === "fuse.lxcfs";
        return;
      }
      await this.clearStale();
      await mkdir(this.mountPoint, { recursive: true, mode: 0o755 });
      const cgroup = await this.opts.cgroups.create(PROC_VIEW_CGROUP, LXCFS_LIMITS);
      const watch = watchLauncher(
        spawn(setpriv, ["--pdeathsig", "KILL", "--", binary, "--foreground", "--enable-pidfd", "--pidfile", this.pidFile, this.mountPoint], {
          stdio: ["pipe", "pipe", "pipe"],
          env: { PATH: HOST_PATH },
        }),
      );
      this.watch = watch;
      watch.proc.stdout.resume(); // lxcfs writes its start-up report there: drained, not kept
      if (watch.proc.pid !== undefined) {
        for (const file of cgroup.procsFiles) await writeFile(file, String(watch.proc.pid));
      }
      void watch.exited.then((e) => this.exited(watch, describeExit(e)));
      await this.waitReady(watch);
      this.serving = true;
      this.opts.logger?.info({ pid: watch.proc.pid, mountPoint: this.mountPoint }, "lxcfs ready: sandboxes see their own memory and uptime in /proc");
    } catch (err) {
      this.opts.logger?.warn({ err, stderr: this.watch?.stderr.trim() }, "lxcfs did not start: sandboxes see the host's /proc files until it does");
      this.watch?.proc.kill("SIGKILL");
      this.scheduleRestart();
    }
  }

  /** Polls until lxcfs's mount answers, or its process ended, or the timeout passed. */
  private async waitReady(watch: LauncherWatch): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (watch.exit)
        throw new DaemonError("SANDBOX_RUNTIME_FAILED", `lxcfs ${describeExit(watch.exit)}: ${watch.stderr.trim().split("\n").slice(-3).join(" / ")}`);
      const m = await findMount(this.mountPoint);
      if (
        m?.fsType === "fuse.lxcfs" &&
        (await stat(`${this.mountPoint}/proc/meminfo`).then(
          () => true,
          () => false,
        ))
      )
        return;
      if (Date.now() > deadline) throw new DaemonError("SANDBOX_RUNTIME_FAILED", `lxcfs did not mount ${this.mountPoint} within ${READY_TIMEOUT_MS / 1000} s`);
      await sleep(delay);
    }
  }

  private exited(watch: LauncherWatch, how: string): void {
    if (this.watch !== watch) return;
    this.serving = false;
    if (this.stopping) return;
    // Running sandboxes keep reading the dead mount (ENOTCONN) until they stop; new ones get a new lxcfs.
    this.opts.logger?.error(
      { stderr: watch.stderr.trim().split("\n").slice(-5).join("\n") },
      `lxcfs ${how}: restarting it; sandboxes started before cannot read /proc/meminfo, swaps and uptime until they stop`,
    );
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.start().then(() => {
        // Healthy for a while: the next failure restarts quickly again.
        if (!this.serving) return;
        setTimeout(() => {
          if (this.serving) this.restartDelay = RESTART_MIN_MS;
        }, RESTART_MAX_MS).unref();
      });
    }, delay);
    this.restartTimer.unref();
  }

  /**
   * true when the lxcfs named by the pid file runs and serves this mount point. It dies with
   * the runtime that started it (pdeathsig), so a live one belongs to a live runtime.
   */
  private async othersLxcfs(): Promise<boolean> {
    const pid = Number.parseInt(await readFile(this.pidFile, "utf8").catch(() => ""), 10);
    if (!(pid > 0) || pid === this.watch?.proc.pid) return false;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    return cmdline.split("\0").includes(this.mountPoint) && cmdline.includes("lxcfs");
  }

  /** What a previous run left: the FUSE mount of its dead lxcfs, its cgroup. */
  private async clearStale(): Promise<void> {
    if (await findMount(this.mountPoint)) await umount(this.opts.runner, this.mountPoint, { lazy: true });
    await this.opts.cgroups.open(PROC_VIEW_CGROUP).destroy();
  }

  /** Stops lxcfs, unmounts its filesystem and removes its cgroup. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.starting;
    const watch = this.watch;
    this.serving = false;
    if (this.shared || !watch) return;
    // Unmounting first ends lxcfs's FUSE loop; the kill is for an lxcfs that hangs.
    if (await findMount(this.mountPoint)) await umount(this.opts.runner, this.mountPoint, { lazy: true });
    if (watch && !watch.exit) {
      watch.proc.kill("SIGKILL");
      await watch.exited;
    }
    await this.opts.cgroups.open(PROC_VIEW_CGROUP).destroy();
    await rmdir(this.mountPoint).catch(() => undefined);
    await rm(this.pidFile, { force: true });
  }
}
