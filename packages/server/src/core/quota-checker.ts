import { CapacityError } from "atoll/contract";
import type { SandboxRepo, SandboxRow } from "../store/sandbox-repo.js";
import type { TenantRepo } from "../store/tenant-repo.js";
import type { VolumeRepo, VolumeRow } from "../store/volume-repo.js";
import type { SnapshotRepo, SnapshotRow } from "../store/snapshot-repo.js";

/**
 * Per-tenant quotas (QUOTA_EXCEEDED). Tenants without a row or with a null limit are not limited.
 *
 * Check and reservation are one step: `admitSandbox` / `admitVolume` count and insert the new row
 * inside one SQLite transaction, before the caller awaits anything, so concurrent creates cannot
 * all pass the check (issue 10, item 8). The inserted row is the reservation: it counts against
 * the quota from then on (sandboxes in every state but "stopped", volumes in every state,
 * "creating" included), and deleting it when the create fails releases it.
 */
export class QuotaChecker {
  constructor(
    private readonly deps: {
      tenants: TenantRepo;
      sandboxes: SandboxRepo;
      volumes: VolumeRepo;
      /** Snapshots count their volume's size against maxVolumeGb (docs/snapshots.md); absent: not counted. */
      snapshots?: SnapshotRepo;
      /** Runs `fn` in one SQLite transaction (db.transaction); synchronous. */
      atomic: <T>(fn: () => T) => T;
    },
  ) {}

  /** Checks the sandbox quota and inserts `row`, atomically. Throws QUOTA_EXCEEDED and inserts nothing. */
  admitSandbox(row: SandboxRow): void {
    this.deps.atomic(() => {
      const max = this.deps.tenants.get(row.tenant)?.maxSandboxes;
      if (max !== null && max !== undefined) {
        const running = this.deps.sandboxes.countLive(row.tenant);
        if (running + 1 > max) {
          throw new CapacityError(
            "QUOTA_EXCEEDED",
            `Tenant "${row.tenant}" may run at most ${max} sandboxes and has ${running}; kill one first or ask an admin to raise the quota.`,
            { quota: "maxSandboxes", limit: max, current: running },
          );
        }
      }
      this.deps.sandboxes.insert(row);
    });
  }

  /**
   * Checks the volume quota and inserts `row`, atomically. Returns false (inserting nothing) when
   * the tenant has a volume of that name; throws QUOTA_EXCEEDED when the size does not fit.
   */
  admitVolume(row: VolumeRow): boolean {
    return this.deps.atomic(() => {
      this.checkVolumeGb(row.tenant, row.sizeGb, `a ${row.sizeGb} GiB volume`);
      return this.deps.volumes.tryInsert(row);
    });
  }

  /**
   * Checks the volume quota for a snapshot (it counts its volume's size: the most it can ever
   * hold alone) and inserts `row`, atomically. false when the name is taken; QUOTA_EXCEEDED when it does not fit.
   */
  admitSnapshot(row: SnapshotRow): boolean {
    const snapshots = this.deps.snapshots;
    if (!snapshots) throw new RangeError("this quota checker was made without the snapshot store");
    return this.deps.atomic(() => {
      this.checkVolumeGb(row.tenant, row.sizeGb, `a snapshot of a ${row.sizeGb} GiB volume`);
      return snapshots.tryInsert(row);
    });
  }

  /** Throws QUOTA_EXCEEDED when `requestedGb` more (`what`) does not fit the tenant's maxVolumeGb. */
  private checkVolumeGb(tenant: string, requestedGb: number, what: string): void {
    const max = this.deps.tenants.get(tenant)?.maxVolumeGb;
    if (max === null || max === undefined) return;
    const used = this.volumeGb(tenant);
    if (used + requestedGb > max) {
      const counted = this.deps.snapshots ? "volumes and snapshots" : "volumes";
      throw new CapacityError(
        "QUOTA_EXCEEDED",
        `Tenant "${tenant}" may have at most ${max} GiB of ${counted} and has ${used} GiB; ${what} does not fit. Delete ${counted} or ask an admin to raise the quota.`,
        { quota: "maxVolumeGb", limit: max, current: used, requested: requestedGb },
      );
    }
  }

  /** GiB the tenant's volumes and snapshots count against maxVolumeGb. */
  private volumeGb(tenant: string): number {
    return this.deps.volumes.totalGb(tenant) + (this.deps.snapshots?.totalGb(tenant) ?? 0);
  }
}
