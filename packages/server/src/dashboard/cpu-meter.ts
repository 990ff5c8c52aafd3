/**
 * CPU use of sandboxes as a percentage of one core, from the cumulative CPU time the runtime
 * reports: the difference between two readings over the wall time between them.
 */
export class CpuMeter {
  private readonly last = new Map<string, { ns: number; at: number }>();

  /** Records a reading; returns % of one core since the previous one (null for the first). */
  percent(id: string, cpuUsageNs: number, at = performance.now()): number | null {
    const prev = this.last.get(id);
    this.last.set(id, { ns: cpuUsageNs, at });
    if (!prev || at <= prev.at || cpuUsageNs < prev.ns) return null;
    return Math.round(((cpuUsageNs - prev.ns) / ((at - prev.at) * 1e6)) * 1000) / 10;
  }

  /** Forgets sandboxes not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const id of this.last.keys()) if (!keep.has(id)) this.last.delete(id);
  }
}
