import { ConflictError, type SandboxStats } from "atoll/contract";
import type { LiveSandboxes } from "./live-sandboxes.js";
import type { SandboxService } from "./sandbox-service.js";

/** Live resource figures of running sandboxes (memory, CPU time, processes) from the runtime. */
export class SandboxMonitor {
  constructor(private readonly deps: { sandboxes: SandboxService; live: LiveSandboxes }) {}

  /** SANDBOX_NOT_FOUND / SANDBOX_NOT_RUNNING unless the sandbox runs. */
  async stats(tenant: string, id: string): Promise<SandboxStats> {
    const info = this.deps.sandboxes.get(tenant, id);
    this.deps.sandboxes.assertRunning(tenant, id);
    const live = this.deps.live.get(id);
    // Undefined when it is gone, or stopped while we read its cgroup.
    const s = await live?.runtime.stats().catch(() => undefined);
    if (!s) throw new ConflictError("SANDBOX_NOT_RUNNING", `Sandbox ${id} stopped; it has no live figures.`, { sandboxId: id });
    return {
      sandboxId: id,
      at: new Date().toISOString(),
      memoryBytes: s.memoryBytes,
      memoryLimitBytes: info.memoryBytes,
      cpuUsageNs: s.cpuUsageNs,
      pids: s.pids,
      pidsLimit: info.pids,
    };
  }
}
