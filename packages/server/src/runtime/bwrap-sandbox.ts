/**
 * One live bubblewrap sandbox: its launcher process, control channel and cgroup. Created by
 * BwrapRuntime.launch once atoll-init is READY.
 */
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { InvalidArgumentError } from "atoll/contract";
import type { Logger } from "pino";
import type { BusyProcess, MountSpec, ProcessHandle, ProcessSink, RuntimeSandbox, SandboxStats, SpawnRequest } from "../core/drivers.js";
import { HostCommandError, type CommandRunner } from "../host/run-command.js";
import type { AgentChannel } from "./agent-channel.js";
import { ProtocolError } from "./agent-protocol.js";
import { findBusyProcesses } from "./busy-processes.js";
import { pidRunning } from "./launcher-watch.js";
import type { SandboxCgroup } from "./cgroups.js";
import { DaemonError } from "../daemon-error.js";
import { mountsUnder, readMountInfo } from "../host/mounts.js";

/** How long kill() waits for the launcher to exit after KILL_ALL before SIGKILLing it. */
const EXIT_WAIT_MS = 2000;

/** Waits until `child` exited (resolves at once if it has), or `ms` passed. true if it exited. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

/** `promise`, or a SANDBOX_RUNTIME_FAILED error with `message` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DaemonError("SANDBOX_RUNTIME_FAILED", message)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Runs atoll-mount; its exit status 2 (bad target: symlink, `..`, not a directory) becomes an
 * InvalidArgumentError with the helper's message.
 */
export async function runAtollMount(runner: CommandRunner, atollMount: string, args: readonly string[]): Promise<void> {
  try {
    await runner.run(atollMount, args);
  } catch (err) {
    if (err instanceof HostCommandError && err.exitCode === 2) {
      throw new InvalidArgumentError(
        err.stderr.trim().replace(/^atoll-mount: /, ""),
        { target: args[args.length - (args[0] === "bind" ? 2 : 1)] },
        { cause: err },
      );
    }
    throw err;
  }
}

/** The sandbox's atoll-shim, as this daemon holds it: its child, or (adopted) a pid. */
export interface ShimHandle {
  readonly pid: number | undefined;
  /** true once it exited within `ms`. */
  waitForExit(ms: number): Promise<boolean>;
  kill(signal: NodeJS.Signals): void;
  /** Lets go of it (daemon shutdown, the sandbox keeps running). */
  detach(): void;
}

/** The shim this daemon spawned. */
export function childShim(child: ChildProcess): ShimHandle {
  return {
    pid: child.pid,
    waitForExit: (ms) => waitForExit(child, ms),
    kill: (signal) => child.kill(signal),
    detach: () => {
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      child.unref();
    },
  };
}

/** A shim a previous daemon run spawned (no longer our child): watched by its pid. */
export function adoptedShim(pid: number): ShimHandle {
  const alive = () => pidRunning(pid);
  return {
    pid,
    waitForExit: async (ms) => {
      for (const deadline = Date.now() + ms; alive() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
      return !alive();
    },
    kill: (signal) => {
      if (alive()) process.kill(pid, signal);
    },
    detach: () => undefined,
  };
}

export interface BwrapSandboxParts {
  id: string;
  /** Host path of the sandbox root (overlay). */
  root: string;
  child: ShimHandle;
  channel: AgentChannel;
  cgroup: SandboxCgroup;
  atollMount: string;
  /** Runs atoll-mount (the daemon's host spawner). */
  runner: CommandRunner;
  /** Releases every host resource of the sandbox (processes must be dead). Idempotent. */
  release: () => Promise<void>;
  logger?: Logger | undefined;
}

export class BwrapSandbox implements RuntimeSandbox {
  readonly id: string;
  readonly stopped: Promise<{ reason: string }>;
  private resolveStopped!: (v: { reason: string }) => void;
  private stopping: Promise<void> | undefined;
  private detached = false;

  constructor(private readonly parts: BwrapSandboxParts) {
    this.id = parts.id;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    // init gone without kill(): OOM-killed, crashed, or killed from outside; or it broke the
    // control-channel protocol (init runs in the sandbox: whatever it sends is hostile), which
    // ends this sandbox and nothing else.
    void parts.channel.closed.then(({ error }) => {
      if (this.stopping || this.detached) return;
      let reason = "init-exited";
      if (error instanceof ProtocolError) {
        reason = `protocol-error: ${error.message}`;
        parts.logger?.warn({ sandboxId: this.id, err: error.message }, "sandbox broke the control-channel protocol; stopping it");
      }
      void this.stop(reason).catch(() => undefined);
    });
  }

  spawn(req: SpawnRequest, sink: ProcessSink): ProcessHandle {
    const cg = this.parts.cgroup;
    const oomBefore = cg.oomKills();
    return this.parts.channel.spawn(req, {
      onStarted: (pid) => sink.onStarted(pid),
      onStdout: (data) => sink.onStdout(data),
      onStderr: (data) => sink.onStderr(data),
      onSpawnError: (message, errno) => sink.onSpawnError(message, errno),
      onStdinAck: (bytes) => sink.onStdinAck?.(bytes),
      onExit: (exit) => {
        // A SIGKILL while the cgroup's OOM-kill counter went up: the OOM killer did it. A shell
        // reports a child killed by SIGKILL as exit 137 (128 + 9), so `sh -c` commands count too.
        const killed = exit.signal === "SIGKILL" || exit.code === 137;
        const oom = killed && cg.oomKills() > oomBefore;
        sink.onExit(oom ? { ...exit, oom: true } : exit);
      },
    });
  }

  async attachMount(mount: MountSpec): Promise<void> {
    this.assertRunning();
    await runAtollMount(this.parts.runner, this.parts.atollMount, ["bind", mount.source, this.parts.root, mount.target, mount.readOnly ? "ro" : "rw"]);
  }

  async detachMount(target: string): Promise<void> {
    this.assertRunning();
    await runAtollMount(this.parts.runner, this.parts.atollMount, ["unbind", this.parts.root, target]);
  }

  async hasMount(target: string): Promise<boolean> {
    const where = path.resolve(path.join(this.parts.root, target)); // "/" (a booted volume, issue 14) is the root itself
    return mountsUnder(await readMountInfo(), this.parts.root).some((m) => m.mountPoint === where);
  }

  async busyProcesses(target: string): Promise<BusyProcess[]> {
    return findBusyProcesses(await this.parts.cgroup.pids(), this.parts.root, target);
  }

  stats(): Promise<SandboxStats> {
    return this.parts.cgroup.stats();
  }

  kill(): Promise<void> {
    return this.stop("killed");
  }

  /** Closes this daemon's side of the shim; the sandbox runs on with all it holds (daemon shutdown). */
  async detach(): Promise<void> {
    if (this.stopping) return;
    this.detached = true;
    this.stopping = Promise.resolve();
    this.parts.channel.detach();
    this.parts.child.detach();
  }

  adoptedProcesses(): ReturnType<AgentChannel["adoptedProcesses"]> {
    return this.parts.channel.adoptedProcesses();
  }

  private assertRunning(): void {
    if (this.stopping) throw new DaemonError("SANDBOX_RUNTIME_FAILED", `sandbox ${this.id} is stopping`);
  }

  /** Kills every process, releases the host resources, then resolves `stopped`. Runs once. */
  private stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      const { channel, child, logger } = this.parts;
      try {
        if (channel.isOpen) {
          channel.killAll();
          channel.end();
        }
        if (!(await child.waitForExit(EXIT_WAIT_MS))) {
          logger?.warn({ sandboxId: this.id, pid: child.pid }, "sandbox launcher did not exit after KILL_ALL; sending SIGKILL");
          child.kill("SIGKILL");
          await child.waitForExit(EXIT_WAIT_MS);
        }
        await this.parts.release();
      } catch (err) {
        logger?.error({ err, sandboxId: this.id }, "releasing sandbox resources failed");
        throw err;
      } finally {
        this.resolveStopped({ reason });
      }
    })();
    return this.stopping;
  }
}
