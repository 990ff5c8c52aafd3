import type { SnapshotInfo } from "atoll/contract";
import type { Services } from "../api/services.js";
import type { DashboardSnapshot } from "./snapshot-types.js";

/**
 * The tenant's volume snapshots for the overview, from the same service the /v1 routes use.
 * Measuring what each snapshot alone holds runs `filefrag` per snapshot, so the list is kept for
 * `maxAgeMs` (only block sharing moves meanwhile) and dropped at once after any API change.
 */
export class SnapshotRows {
  private readonly cache = new Map<string, { at: number; list: SnapshotInfo[] }>();

  constructor(
    private readonly services: Services,
    private readonly maxAgeMs = 10_000,
  ) {}

  /** Something may have changed (a snapshot taken, forked or deleted): measure again next time. */
  invalidate(): void {
    this.cache.clear();
  }

  /** Snapshots of `tenant`, each marked when its source volume is not among `volumeIds` any more. */
  async rows(tenant: string, volumeIds: ReadonlySet<string>, now = Date.now()): Promise<DashboardSnapshot[]> {
    let hit = this.cache.get(tenant);
    if (!hit || now - hit.at > this.maxAgeMs) {
      try {
        hit = { at: now, list: await this.services.snapshots.list(tenant) };
      } catch {
        hit = { at: now, list: [] }; // a snapshot deleted while measured: the next round lists the rest
      }
      this.cache.set(tenant, hit);
    }
    return markSources(hit.list, volumeIds);
  }
}

/** Marks the snapshots whose source volume is gone. */
export function markSources(list: readonly SnapshotInfo[], volumeIds: ReadonlySet<string>): DashboardSnapshot[] {
  return list.map((s) => ({ ...s, sourceDeleted: !volumeIds.has(s.volumeId) }));
}
