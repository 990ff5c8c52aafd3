/**
 * cgroup v1: one directory per hierarchy (memory, pids, cpu, cpuacct; cpu and cpuacct are
 * often co-mounted). Limits: memory.limit_in_bytes (+ memory.memsw.limit_in_bytes = same, so
 * no swap, when the kernel accounts swap), memory.kmem.tcp.limit_in_bytes (socket buffers,
 * socket-memory.ts), pids.max, cpu.shares.
 */
import { readFileSync } from "node:fs";
import { mkdir, readdir, rename, rmdir, writeFile } from "node:fs/promises";
import type { SandboxLimits, SandboxStats } from "../core/drivers.js";
import { parseMountInfo } from "../host/mounts.js";
import { cpuSharesFromWeight, flatKeyedValue, killUntilEmpty, parsePids, readCgroupFile, retryBusy } from "./cgroup-files.js";
import type { CgroupDriver, CgroupViewDir, SandboxCgroup } from "./cgroups.js";
import { socketMemoryLimit } from "./socket-memory.js";
import { DaemonError } from "../daemon-error.js";

/** Mount points of the v1 hierarchies Atoll uses. */
export interface V1Hierarchies {
  memory: string;
  pids: string;
  cpu: string;
  /** cpuacct (CPU usage statistics); may be the same directory as cpu. */
  cpuacct?: string;
}

export class CgroupV1 implements CgroupDriver {
  readonly version = 1 as const;

  constructor(
    private readonly hierarchies: V1Hierarchies,
    private readonly parent: string,
  ) {}

  /** Finds the hierarchies in the text of /proc/self/mountinfo. Throws if one is missing. */
  static fromMountInfo(mountinfo: string, parent: string): CgroupV1 {
    const found = new Map<string, string>();
    for (const entry of parseMountInfo(mountinfo)) {
      if (entry.fsType !== "cgroup") continue;
      for (const opt of entry.superOptions) {
        if (!found.has(opt)) found.set(opt, entry.mountPoint);
      }
    }
    const need = (name: string): string => {
      const mp = found.get(name);
      if (!mp) throw new DaemonError("HOST_NOT_READY", `cgroup v1 controller "${name}" is not mounted; Atoll needs memory, pids and cpu`);
      return mp;
    };
    const cpuacct = found.get("cpuacct");
    return new CgroupV1({ memory: need("memory"), pids: need("pids"), cpu: need("cpu"), ...(cpuacct ? { cpuacct } : {}) }, parent);
  }

  private parentDirs(): string[] {
    const { memory, pids, cpu, cpuacct } = this.hierarchies;
    return [...new Set([memory, pids, cpu, ...(cpuacct ? [cpuacct] : [])])].map((m) => `${m}/${this.parent}`);
  }

  async setup(): Promise<void> {
    for (const dir of this.parentDirs()) await mkdir(dir, { recursive: true });
  }

  async create(id: string, limits: SandboxLimits): Promise<SandboxCgroup> {
    await this.setup();
    const cg = this.open(id);
    try {
      for (const dir of cg.dirs) await mkdir(dir);
      await this.applyLimits(cg, limits);
    } catch (err) {
      await cg.destroy().catch(() => undefined);
      throw err;
    }
    return cg;
  }

  async adopt(from: string, to: string, limits: SandboxLimits): Promise<SandboxCgroup> {
    const old = this.open(from);
    const cg = this.open(to);
    try {
      for (let i = 0; i < old.dirs.length; i++) await rename(old.dirs[i]!, cg.dirs[i]!);
      await this.applyLimits(cg, limits);
    } catch (err) {
      await cg.destroy().catch(() => undefined);
      await old.destroy().catch(() => undefined);
      throw err;
    }
    return cg;
  }

  private async applyLimits(cg: V1SandboxCgroup, limits: SandboxLimits): Promise<void> {
    await writeFile(`${cg.memoryDir}/memory.limit_in_bytes`, String(limits.memoryBytes));
    // memsw must be ≥ the memory limit, so it is written second; absent without swap accounting.
    await writeFile(`${cg.memoryDir}/memory.memsw.limit_in_bytes`, String(limits.memoryBytes)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    // Socket buffers: charged and capped only once this is set (socket-memory.ts); absent on kernels without v1 kmem.
    await writeFile(`${cg.memoryDir}/memory.kmem.tcp.limit_in_bytes`, String(socketMemoryLimit(limits.memoryBytes))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await writeFile(`${cg.pidsDir}/pids.max`, String(limits.pids));
    await writeFile(`${cg.cpuDir}/cpu.shares`, String(cpuSharesFromWeight(limits.cpuWeight)));
  }

  open(id: string): V1SandboxCgroup {
    const { memory, pids, cpu, cpuacct } = this.hierarchies;
    const at = (m: string) => `${m}/${this.parent}/${id}`;
    return new V1SandboxCgroup(id, at(memory), at(pids), at(cpu), cpuacct ? at(cpuacct) : undefined);
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for (const dir of this.parentDirs()) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory()) ids.add(e.name);
    }
    return [...ids];
  }

  async removeParent(): Promise<void> {
    for (const dir of this.parentDirs()) {
      await rmdir(dir).catch(() => undefined);
    }
  }
}

export class V1SandboxCgroup implements SandboxCgroup {
  readonly dirs: string[];
  readonly procsFiles: string[];
  readonly viewDirs: CgroupViewDir[];

  constructor(
    readonly id: string,
    readonly memoryDir: string,
    readonly pidsDir: string,
    readonly cpuDir: string,
    readonly cpuacctDir: string | undefined,
  ) {
    this.dirs = [...new Set([memoryDir, pidsDir, cpuDir, ...(cpuacctDir ? [cpuacctDir] : [])])];
    this.procsFiles = this.dirs.map((d) => `${d}/cgroup.procs`);
    // Named by controller, as on a v1 host; a co-mounted cpu,cpuacct appears under both names.
    const named: [string, string | undefined][] = [
      ["memory", memoryDir],
      ["pids", pidsDir],
      ["cpu", cpuDir],
      ["cpuacct", cpuacctDir],
    ];
    this.viewDirs = named.flatMap(([name, dir]) => (dir ? [{ dir, target: `/sys/fs/cgroup/${name}` }] : []));
  }

  oomKills(): number {
    try {
      return flatKeyedValue(readFileSync(`${this.memoryDir}/memory.oom_control`, "utf8"), "oom_kill");
    } catch {
      return 0;
    }
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.procsFiles) for (const pid of parsePids(await readCgroupFile(f))) all.add(pid);
    return [...all];
  }

  async stats(): Promise<SandboxStats> {
    const [mem, cpu, pids] = await Promise.all([
      readCgroupFile(`${this.memoryDir}/memory.usage_in_bytes`),
      this.cpuacctDir ? readCgroupFile(`${this.cpuacctDir}/cpuacct.usage`) : Promise.resolve(undefined),
      readCgroupFile(`${this.pidsDir}/pids.current`),
    ]);
    return {
      memoryBytes: Number.parseInt(mem ?? "0", 10) || 0,
      cpuUsageNs: Number.parseInt(cpu ?? "0", 10) || 0,
      pids: Number.parseInt(pids ?? "0", 10) || 0,
    };
  }

  async destroy(): Promise<void> {
    // No new processes from here on: a fork bomb cannot outrun the kill loop.
    await writeFile(`${this.pidsDir}/pids.max`, "0").catch(() => undefined);
    await killUntilEmpty(this);
    for (const dir of this.dirs) await retryBusy(() => rmdir(dir));
  }
}
