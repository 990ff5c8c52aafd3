/**
 * Resource limits of sandboxes through cgroups: v1 (memory, pids, cpu, cpuacct hierarchies)
 * or v2 (unified), detected at start. Each sandbox gets `<parent>/<id>` (parent "atoll" by
 * default). On v1 the launcher writes its own pid into the cgroup.procs files before it execs
 * bwrap; on v2 it forks straight into the cgroup (atoll-launch --cgroup-dir).
 */
import { readFile, stat } from "node:fs/promises";
import type { SandboxLimits, SandboxStats } from "../core/drivers.js";
import { CgroupV1 } from "./cgroup-v1.js";
import { CgroupV2 } from "./cgroup-v2.js";
import { DaemonError } from "../daemon-error.js";

/** The cgroup(s) of one sandbox. */
export interface SandboxCgroup {
  readonly id: string;
  /** cgroup.procs files a process writes its pid into to join every controller. */
  readonly procsFiles: readonly string[];
  /**
   * v2: the cgroup's directory, which a launcher forks its work into (clone3 with
   * CLONE_INTO_CGROUP: no migration, so no RCU grace period on the creation path). Undefined on
   * v1, where the launcher writes `procsFiles`.
   */
  readonly cloneInto?: string | undefined;
  /**
   * The sandbox's own cgroup directories and where they appear inside it, read-only
   * (cgroup-view.ts): v1 `/sys/fs/cgroup/<controller>`, v2 `/sys/fs/cgroup`.
   */
  readonly viewDirs: readonly CgroupViewDir[];
  /** How many processes the OOM killer has killed in this cgroup (synchronous: read at spawn). */
  oomKills(): number;
  /** Host pids of every process in the cgroup. */
  pids(): Promise<number[]>;
  stats(): Promise<SandboxStats>;
  /** SIGKILLs every process, waits until the cgroup is empty, removes it. Idempotent. */
  destroy(): Promise<void>;
}

/** A host cgroup directory and the path inside the sandbox where it is bound. */
export interface CgroupViewDir {
  dir: string;
  target: string;
}

/** One cgroup hierarchy layout (v1 or v2). */
export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Creates the parent cgroup (and enables controllers on v2). Idempotent. */
  setup(): Promise<void>;
  /** Creates `<parent>/<id>` with the limits; on failure nothing is left behind. */
  create(id: string, limits: SandboxLimits): Promise<SandboxCgroup>;
  /**
   * Renames `<parent>/<from>` to `<parent>/<to>` (its processes stay in it) and sets the limits:
   * how a pooled launcher's cgroup becomes a sandbox's. Only where the kernel can rename
   * cgroups (v1); undefined elsewhere.
   */
  adopt?(from: string, to: string, limits: SandboxLimits): Promise<SandboxCgroup>;
  /** Handle on an existing (or already removed) sandbox cgroup, e.g. an orphan. */
  open(id: string): SandboxCgroup;
  /** Ids of the sandbox cgroups that exist under the parent. */
  list(): Promise<string[]>;
  /** Removes the parent cgroup if it is empty (tests). */
  removeParent(): Promise<void>;
}

/**
 * Detects the cgroup version of this host: a cgroup2 filesystem mounted at `root` means
 * v2 (unified); otherwise v1 with the named hierarchies (hybrid hosts use v1 for limits).
 */
export async function detectCgroups(options: { root?: string; parent?: string } = {}): Promise<CgroupDriver> {
  const root = options.root ?? "/sys/fs/cgroup";
  const parent = options.parent ?? "atoll";
  if (!/^[A-Za-z0-9._-]+$/.test(parent)) throw new DaemonError("CONFIG_INVALID", `invalid cgroup parent name ${JSON.stringify(parent)}`);
  const isV2 = await stat(`${root}/cgroup.controllers`).then(
    () => true,
    () => false,
  );
  return isV2 ? new CgroupV2(root, parent) : CgroupV1.fromMountInfo(await readFile("/proc/self/mountinfo", "utf8"), parent);
}
