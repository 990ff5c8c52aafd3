/**
 * A small pool of pre-started launchers (`atoll-launch --wait-args`): a sandbox create finds its
 * launcher spawned, its seccomp filter built, and (cgroup v1) already inside a cgroup. Taking one
 * hands over the process, whose stdin/stdout become the sandbox's control channel once it has
 * read its arguments (see atoll-launch.c read_args).
 *
 * cgroup v1: each waiting launcher sits in a cgroup of its own (`<parent>/pool-<random>`), because
 * the first cgroup.procs write of a process waits for an RCU grace period (about 16 ms here); a
 * pooled launcher has paid that before a sandbox needs it. Taking one renames its cgroup to the
 * sandbox's id and sets the limits. The pool moves each launcher into its cgroup itself (writes
 * its pid into the cgroup.procs files) before the launcher can be taken: a launcher that joined
 * by name could still be opening `pool-<random>/cgroup.procs` when a take renamed that cgroup,
 * and died of ENOENT.
 *
 * cgroup v2 cannot rename cgroups (EPERM), and a migration costs the same grace period there
 * (15–20 ms measured in the test:vm guest). So waiting launchers stay in the daemon's own cgroup;
 * taking one creates the sandbox's cgroup (a mkdir and the limits, well under a millisecond) and
 * the launcher forks its work straight into it (`--cgroup-dir`, clone3 CLONE_INTO_CGROUP: 2–3 ms
 * in the same guest, most of it the fork itself).
 *
 * A launcher's exit is watched from spawn on (launcher-watch.ts): one that died in the pool is
 * never handed out.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { LIMITS } from "atoll/contract";
import type { Logger } from "pino";
import type { SandboxLimits } from "../core/drivers.js";
import { HOST_PATH } from "../host/run-command.js";
import { WarmPool } from "../host/warm-pool.js";
import type { CgroupDriver, SandboxCgroup } from "./cgroups.js";
import { type LauncherWatch, describeExit, watchLauncher } from "./launcher-watch.js";
import { DaemonError } from "../daemon-error.js";

/** Prefix of pool cgroups; orphan cleanup recognises them by it. */
export const POOL_CGROUP_PREFIX = "pool-";

interface Entry {
  launcher: LauncherWatch;
  /** v1: the pool cgroup the launcher waits in (renamed to the sandbox's id when taken). */
  cgroupId?: string;
  cgroup?: SandboxCgroup;
}

/**
 * Limits of a pooled launcher's cgroup until a sandbox adopts it. The memory limit is the
 * highest a sandbox may ask for: on v1 adopting then only ever lowers it, and memory must be
 * lowered before memsw (and raised after it).
 */
const WAITING_LIMITS: SandboxLimits = { memoryBytes: LIMITS.memoryMax, pids: 16, cpuWeight: LIMITS.cpuWeightDefault, rootfsBytes: 0 };

export class LauncherPool {
  private readonly pool: WarmPool<Entry>;

  constructor(
    private readonly opts: {
      cgroups: CgroupDriver;
      launcher: string;
      target?: number;
      logger?: Logger | undefined;
      /** Starts `launcher args` (the runtime: under atoll-shim); default: spawns it directly. */
      spawn?: (launcher: string, args: string[]) => ChildProcessWithoutNullStreams;
    },
  ) {
    this.pool = new WarmPool<Entry>({
      name: "launcher",
      target: opts.target ?? 2,
      logger: opts.logger,
      make: (claim) => this.make(claim),
      release: (e) => this.discard(e),
    });
  }

  /** Launchers waiting now (on v1 each already in its cgroup). */
  get size(): number {
    return this.pool.size;
  }

  /** Host pids of the launchers waiting now (tests). */
  get waitingPids(): number[] {
    return this.pool.ready.flatMap((e) => (e.launcher.proc.pid === undefined ? [] : [e.launcher.proc.pid]));
  }

  /** true for pool cgroups this pool made: orphan cleanup leaves them alone. */
  owns(cgroupId: string): boolean {
    return this.pool.owns(cgroupId);
  }

  /**
   * A waiting launcher whose cgroup is now `<parent>/<id>` with `limits`, or undefined when none
   * is ready (then the caller creates the cgroup and spawns the launcher itself).
   */
  async take(id: string, limits: SandboxLimits): Promise<{ launcher: LauncherWatch; cgroup: SandboxCgroup } | undefined> {
    const adopt = this.opts.cgroups.adopt?.bind(this.opts.cgroups);
    let taken: { launcher: LauncherWatch; cgroup: SandboxCgroup } | undefined;
    while (!taken) {
      const e = this.pool.take(undefined, { deferRefill: true });
      if (!e) break;
      if (e.launcher.exit) {
        this.discardDead(e, e.cgroup);
        continue;
      }
      if (!adopt || !e.cgroupId) {
        // v2: the sandbox's cgroup is made now; the launcher forks into it once it has its arguments.
        let cgroup: SandboxCgroup;
        try {
          cgroup = await this.opts.cgroups.create(id, limits);
        } catch (err) {
          e.launcher.proc.stdin.end();
          throw err;
        }
        // It may have died meanwhile (its exit is seen only now): its cgroup goes, the next one is tried.
        if (e.launcher.exit) {
          this.discardDead(e, undefined);
          await cgroup.destroy();
          continue;
        }
        taken = { launcher: e.launcher, cgroup };
        break;
      }
      let cgroup: SandboxCgroup;
      try {
        cgroup = await adopt(e.cgroupId, id, limits);
      } catch (err) {
        // Its cgroup vanished (an orphan cleanup took it): end it and try the next, or go cold.
        this.opts.logger?.warn({ err, cgroup: e.cgroupId }, "a pooled launcher could not be adopted");
        e.launcher.proc.stdin.end();
        continue;
      }
      // It may have died while its cgroup was renamed: then the cgroup goes, and the next one is tried.
      if (e.launcher.exit) this.discardDead(e, cgroup);
      else taken = { launcher: e.launcher, cgroup };
    }
    // Refill once this sandbox has started: a new launcher would compete with its launch.
    this.pool.refillSoon();
    return taken;
  }

  private discardDead(e: Entry, cgroup: SandboxCgroup | undefined): void {
    this.opts.logger?.warn({ cgroup: e.cgroupId, stderr: e.launcher.stderr.trim() }, `a pooled launcher ${describeExit(e.launcher.exit!)} while waiting`);
    void cgroup?.destroy().catch(() => undefined);
  }

  /** Starts filling the pool (after the runtime's orphan cleanup). */
  warm(): void {
    this.pool.warm();
  }

  /** Ends every waiting launcher (EOF on its stdin) and removes its cgroup. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async discard(e: Entry): Promise<void> {
    e.launcher.proc.stdin.end();
    await e.cgroup?.destroy().catch((err: unknown) => this.opts.logger?.warn({ err, cgroup: e.cgroupId }, "removing a pooled launcher's cgroup failed"));
  }

  /**
   * A waiting launcher; on v1 in a pool cgroup of its own, which it is moved into before the
   * pool lists it.
   */
  private async make(claim: (cgroupId: string) => void): Promise<Entry> {
    let pooled: Pick<Entry, "cgroupId" | "cgroup"> = {};
    if (this.opts.cgroups.adopt !== undefined) {
      const cgroupId = `${POOL_CGROUP_PREFIX}${randomBytes(6).toString("hex")}`;
      claim(cgroupId);
      pooled = { cgroupId, cgroup: await this.opts.cgroups.create(cgroupId, WAITING_LIMITS) };
    }
    const entry: Entry = {
      launcher: watchLauncher(
        this.opts.spawn?.(this.opts.launcher, ["--wait-args"]) ??
          spawn(this.opts.launcher, ["--wait-args"], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: HOST_PATH } }),
      ),
      ...pooled,
    };
    try {
      const pid = entry.launcher.proc.pid;
      if (pid === undefined)
        throw new DaemonError("SANDBOX_RUNTIME_FAILED", `cannot start ${this.opts.launcher}: ${describeExit(await entry.launcher.exited)}`);
      // Joined before anyone can take it (and rename the cgroup under it).
      // Under atoll-shim the launcher is the shim's child: it follows (forked before the move, it
      // is listed in children; forked after, it inherits the cgroup).
      for (const file of entry.cgroup?.procsFiles ?? []) {
        await writeFile(file, String(pid));
        for (const child of await childPids(pid)) await writeFile(file, String(child));
      }
    } catch (err) {
      await this.discard(entry);
      throw err;
    }
    return entry;
  }
}

/** The record a pooled launcher reads on stdin: u32 length (BE), then NUL-terminated strings. */
export function encodeLaunchArgs(args: readonly string[]): Buffer {
  const body = Buffer.from(`${args.join("\0")}\0`);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** Pids of the direct children of `pid` (none once it exited). */
async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text
    .split(" ")
    .filter((t) => /^\d+$/.test(t))
    .map(Number);
}
