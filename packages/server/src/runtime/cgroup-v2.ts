/**
 * cgroup v2 (unified hierarchy): `<root>/<parent>/<id>` with memory.max, memory.swap.max = 0,
 * pids.max and cpu.weight. The memory, pids and cpu controllers are enabled in the
 * subtree_control of the root and of the parent.
 */
import { readFileSync } from "node:fs";
import { mkdir, readdir, rmdir, writeFile } from "node:fs/promises";
import type { SandboxLimits, SandboxStats } from "../core/drivers.js";
import { flatKeyedValue, killUntilEmpty, parsePids, readCgroupFile, retryBusy } from "./cgroup-files.js";
import type { CgroupDriver, CgroupViewDir, SandboxCgroup } from "./cgroups.js";

const CONTROLLERS = ["memory", "pids", "cpu"] as const;

export class CgroupV2 implements CgroupDriver {
  readonly version = 2 as const;

  constructor(
    private readonly root: string,
    private readonly parent: string,
  ) {}

  private get parentDir(): string {
    return `${this.root}/${this.parent}`;
  }

  async setup(): Promise<void> {
    await enableControllers(this.root);
    await mkdir(this.parentDir, { recursive: true });
    await enableControllers(this.parentDir);
  }

  async create(id: string, limits: SandboxLimits): Promise<SandboxCgroup> {
    await this.setup();
    const cg = this.open(id);
    await mkdir(cg.dir);
    try {
      await writeFile(`${cg.dir}/memory.max`, String(limits.memoryBytes));
      await writeFile(`${cg.dir}/memory.swap.max`, "0").catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err; // no swap accounting on this kernel
      });
      await writeFile(`${cg.dir}/pids.max`, String(limits.pids));
      await writeFile(`${cg.dir}/cpu.weight`, String(Math.min(10000, Math.max(1, Math.round(limits.cpuWeight)))));
    } catch (err) {
      await cg.destroy().catch(() => undefined);
      throw err;
    }
    return cg;
  }

  open(id: string): V2SandboxCgroup {
    return new V2SandboxCgroup(id, `${this.parentDir}/${id}`);
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.parentDir, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  async removeParent(): Promise<void> {
    await rmdir(this.parentDir).catch(() => undefined);
  }
}

/** Writes "+memory +pids +cpu" (the missing ones) to dir/cgroup.subtree_control. */
async function enableControllers(dir: string): Promise<void> {
  const enabled = ((await readCgroupFile(`${dir}/cgroup.subtree_control`)) ?? "").trim().split(/\s+/);
  const missing = CONTROLLERS.filter((c) => !enabled.includes(c));
  if (missing.length > 0) await writeFile(`${dir}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(" "));
}

export class V2SandboxCgroup implements SandboxCgroup {
  readonly procsFiles: string[];
  readonly viewDirs: CgroupViewDir[];

  constructor(
    readonly id: string,
    readonly dir: string,
  ) {
    this.procsFiles = [`${dir}/cgroup.procs`];
    this.viewDirs = [{ dir, target: "/sys/fs/cgroup" }];
  }

  get cloneInto(): string {
    return this.dir;
  }

  oomKills(): number {
    try {
      return flatKeyedValue(readFileSync(`${this.dir}/memory.events`, "utf8"), "oom_kill");
    } catch {
      return 0;
    }
  }

  async pids(): Promise<number[]> {
    return parsePids(await readCgroupFile(`${this.dir}/cgroup.procs`));
  }

  async stats(): Promise<SandboxStats> {
    const [mem, cpu, pids] = await Promise.all([
      readCgroupFile(`${this.dir}/memory.current`),
      readCgroupFile(`${this.dir}/cpu.stat`),
      readCgroupFile(`${this.dir}/pids.current`),
    ]);
    return {
      memoryBytes: Number.parseInt(mem ?? "0", 10) || 0,
      cpuUsageNs: flatKeyedValue(cpu, "usage_usec") * 1000,
      pids: Number.parseInt(pids ?? "0", 10) || 0,
    };
  }

  async destroy(): Promise<void> {
    await writeFile(`${this.dir}/pids.max`, "0").catch(() => undefined);
    // cgroup.kill (Linux 5.14+) kills the whole subtree atomically; otherwise SIGKILL in a loop.
    const hasKill = await writeFile(`${this.dir}/cgroup.kill`, "1").then(
      () => true,
      () => false,
    );
    await killUntilEmpty(this, !hasKill);
    await retryBusy(() => rmdir(this.dir));
  }
}
