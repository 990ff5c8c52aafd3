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
 * - it outlives the daemon (issue 13: sandboxes keep running while no daemon runs, and must not
 *   read ENOTCONN from /proc/meminfo): it runs in a session of its own, its stderr goes to
 *   `<run>/lxcfs.log`, and `<run>/lxcfs.owner` names the daemon process that runs it. The next
 *   daemon adopts a running lxcfs whose owner is gone (a live owner is another runtime on this
 *   state directory, as in tests: that one is shared, never stopped); the daemon stops it only
 *   when it stops with no sandbox left running. It is restarted (with backoff) when it exits;
 *   sandboxes started while it is down get the host's /proc files instead of failing;
 * - sandboxes never see its mount: only single files are bound (no cgroup emulation, no
 *   directory), and lxcfs picks the figures from the caller's pid, which the kernel supplies.
 * Known limit of Debian 12's lxcfs 5.0: files in tmpfs (/dev/shm) count as available memory.
 */
import { mkdir, open, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LIMITS } from "atoll/contract";
import type { Logger } from "pino";
import type { SandboxLimits } from "../core/drivers.js";
import { findExecutable } from "../image/bootstrap-runner.js";
import { findMount, umount } from "../host/mounts.js";
import { type CommandRunner, HOST_PATH } from "../host/run-command.js";
import type { CgroupDriver } from "./cgroups.js";
import { describeExit, pidRunning } from "./launcher-watch.js";
import { type LxcfsWatch, watchChild, watchPid } from "./lxcfs-watch.js";
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
  private watch: LxcfsWatch | undefined;
  private serving = false;
  private stopping = false;
  private restartDelay = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  /** Serving through another runtime's lxcfs (othersLxcfs): nothing here to stop. */
  private shared = false;

  private readonly ownerFile: string;
  private readonly logFile: string;

  constructor(private readonly opts: ProcViewOptions) {
    this.mountPoint = path.join(opts.runDir, "lxcfs");
    this.pidFile = path.join(opts.runDir, "lxcfs.pid");
    this.ownerFile = path.join(opts.runDir, "lxcfs.owner");
    this.logFile = path.join(opts.runDir, "lxcfs.log");
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
    if (!binary) {
      this.opts.logger?.warn("lxcfs is not installed: sandboxes see the host's memory in /proc/meminfo. Install it: apt-get install lxcfs");
      return;
    }
    try {
      const running = await this.runningLxcfs();
      if (running !== undefined && (await this.ownerAlive())) {
        // Another runtime on this state directory (tests do that) serves it: share, never stop it.
        this.shared = true;
        this.serving = (await findMount(this.mountPoint))?.fsType === "fuse.lxcfs";
        return;
      }
      if (running !== undefined && (await findMount(this.mountPoint))?.fsType === "fuse.lxcfs") {
        // A previous daemon run's: its sandboxes (still running) use it. Ours now.
        const watch = watchPid(running, this.logFile);
        this.watch = watch;
        await writeFile(this.ownerFile, String(process.pid));
        void watch.exited.then((e) => this.exited(watch, describeExit(e)));
        this.serving = true;
        this.opts.logger?.info({ pid: running }, "adopted the previous run's lxcfs");
        return;
      }
      if (running !== undefined) process.kill(running, "SIGKILL");
      await this.clearStale();
      await mkdir(this.mountPoint, { recursive: true, mode: 0o755 });
      const cgroup = await this.opts.cgroups.create(PROC_VIEW_CGROUP, LXCFS_LIMITS);
      // Its own session, no pipe to this process: it outlives the daemon (see the top of this file).
      const log = await open(this.logFile, "w", 0o600);
      let child: ChildProcess;
      try {
        child = spawn(binary, ["--foreground", "--enable-pidfd", "--pidfile", this.pidFile, this.mountPoint], {
          stdio: ["ignore", "ignore", log.fd],
          env: { PATH: HOST_PATH },
          detached: true,
        });
      } finally {
        await log.close();
      }
      child.unref();
      const watch = watchChild(child, this.logFile);
      this.watch = watch;
      await writeFile(this.ownerFile, String(process.pid));
      if (child.pid !== undefined) {
        for (const file of cgroup.procsFiles) await writeFile(file, String(child.pid));
      }
      void watch.exited.then((e) => this.exited(watch, describeExit(e)));
      await this.waitReady(watch);
      this.serving = true;
      this.opts.logger?.info({ pid: child.pid, mountPoint: this.mountPoint }, "lxcfs ready: sandboxes see their own memory and uptime in /proc");
    } catch (err) {
      this.opts.logger?.warn({ err, stderr: (await this.watch?.stderr())?.trim() }, "lxcfs did not start: sandboxes see the host's /proc files until it does");
      this.watch?.kill();
      this.scheduleRestart();
    }
  }

  /** Polls until lxcfs's mount answers, or its process ended, or the timeout passed. */
  private async waitReady(watch: LxcfsWatch): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (watch.exit)
        throw new DaemonError(
          "SANDBOX_RUNTIME_FAILED",
          `lxcfs ${describeExit(watch.exit)}: ${(await watch.stderr()).trim().split("\n").slice(-3).join(" / ")}`,
        );
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

  private async exited(watch: LxcfsWatch, how: string): Promise<void> {
    if (this.watch !== watch) return;
    this.serving = false;
    if (this.stopping) return;
    // Running sandboxes keep reading the dead mount (ENOTCONN) until they stop; new ones get a new lxcfs.
    this.opts.logger?.error(
      { stderr: (await watch.stderr()).trim().split("\n").slice(-5).join("\n") },
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

  /** The pid of the lxcfs named by the pid file, when it runs and serves this mount point (and is not ours). */
  private async runningLxcfs(): Promise<number | undefined> {
    const pid = Number.parseInt(await readFile(this.pidFile, "utf8").catch(() => ""), 10);
    if (!(pid > 0) || pid === this.watch?.pid) return undefined;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    return cmdline.split("\0").includes(this.mountPoint) && cmdline.includes("lxcfs") ? pid : undefined;
  }

  /** true when the daemon process that runs the lxcfs is alive (and not this one). */
  private async ownerAlive(): Promise<boolean> {
    const owner = Number.parseInt(await readFile(this.ownerFile, "utf8").catch(() => ""), 10);
    return owner > 0 && owner !== process.pid ? pidRunning(owner) : owner === process.pid;
  }

  /**
   * Daemon shutdown that leaves sandboxes running: lxcfs keeps serving them; the next daemon
   * adopts it.
   */
  detach(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.watch?.detach();
    this.watch = undefined;
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
      watch.kill();
      await watch.exited;
    }
    await this.opts.cgroups.open(PROC_VIEW_CGROUP).destroy();
    await rmdir(this.mountPoint).catch(() => undefined);
    for (const f of [this.pidFile, this.ownerFile, this.logFile]) await rm(f, { force: true });
  }
}
