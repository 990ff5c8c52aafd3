import type { SandboxInfo, VolumeInfo } from "atoll/contract";
import type { Services } from "../api/services.js";
import { CpuMeter } from "./cpu-meter.js";
import { SnapshotRows } from "./snapshot-rows.js";
import type { DashboardSandbox, DashboardVolume, Overview, SandboxFocus, SandboxUsage } from "./snapshot-types.js";

/** The stale mark: unattached, and idle (since the last attach, or creation) for longer than `staleAfterMs`. */
export function markStale(v: VolumeInfo, staleAfterMs: number, now = Date.now()): DashboardVolume {
  const idleSince = v.attachments.length > 0 ? null : (v.lastAttachedAt ?? v.createdAt);
  return { ...v, idleSince, stale: idleSince !== null && now - Date.parse(idleSince) > staleAfterMs };
}

/**
 * max(0, what volumes may still take from the host − free host space). Volumes are allocated in
 * full when created, so only older sparse images (`unallocatedBytes`) can be overcommitted.
 */
export function overcommitOf(unallocatedBytes: number, hostFreeBytes: number): number {
  return Math.max(0, unallocatedBytes - hostFreeBytes);
}

/** Builds the dashboard's views from the services (the same ones the /v1 routes use). */
export class OverviewBuilder {
  private readonly cpu = new CpuMeter();
  /** Volume snapshots; `snapshots.invalidate()` after an API change. */
  readonly snapshots: SnapshotRows;

  constructor(
    private readonly services: Services,
    private readonly staleAfterMs: number,
  ) {
    this.snapshots = new SnapshotRows(services);
  }

  async overview(tenant: string): Promise<Overview> {
    const { sandboxes, volumes } = this.services;
    const [volumeList, hostFreeBytes] = await Promise.all([volumes.list(tenant), volumes.hostFreeBytes()]);
    const unallocated = await volumes.unallocatedBytes(volumeList);
    const now = Date.now();
    const marked = volumeList.map((v) => markStale(v, this.staleAfterMs, now));
    const live = [...sandboxes.list(tenant, { state: "starting" }), ...sandboxes.list(tenant, { state: "running" })];
    const rows = await Promise.all(live.map((s) => this.withUsage(tenant, s)));
    const snapshots = await this.snapshots.rows(tenant, new Set(volumeList.map((v) => v.id)), now);
    this.cpu.retain(new Set(live.map((s) => s.id)));
    return {
      at: new Date(now).toISOString(),
      staleAfterMs: this.staleAfterMs,
      totals: {
        volumes: marked.length,
        staleVolumes: marked.filter((v) => v.stale).length,
        capacityBytes: marked.reduce((s, v) => s + v.capacityBytes, 0),
        usedBytes: marked.reduce((s, v) => s + v.usedBytes, 0),
        hostFreeBytes,
        overcommitBytes: overcommitOf(unallocated, hostFreeBytes),
        sandboxesRunning: rows.filter((s) => s.state === "running").length,
      },
      volumes: marked,
      sandboxes: rows,
      snapshots,
    };
  }

  /**
   * One sandbox (any state) with its newest commands; null sandbox when the id is unknown.
   * Pass the tenant's current overview to reuse its live figures (one CPU reading per tick).
   */
  async focus(tenant: string, sandboxId: string, overview?: Overview): Promise<SandboxFocus> {
    const commands = this.services.commandLog.list(sandboxId, 100);
    const known = overview?.sandboxes.find((s) => s.id === sandboxId);
    if (known) return { sandbox: known, commands };
    let info: SandboxInfo;
    try {
      info = this.services.sandboxes.get(tenant, sandboxId);
    } catch {
      return { sandbox: null, commands: [] }; // unknown here: another tenant's ids look the same
    }
    return { sandbox: await this.withUsage(tenant, info), commands };
  }

  private async withUsage(tenant: string, s: SandboxInfo): Promise<DashboardSandbox> {
    if (s.state !== "running") return { ...s, usage: null };
    try {
      const st = await this.services.monitor.stats(tenant, s.id);
      const usage: SandboxUsage = { memoryBytes: st.memoryBytes, cpuPercent: this.cpu.percent(s.id, st.cpuUsageNs), pids: st.pids };
      return { ...s, usage };
    } catch {
      return { ...s, usage: null }; // stopped meanwhile
    }
  }
}
