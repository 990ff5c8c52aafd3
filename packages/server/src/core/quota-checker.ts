import { CapacityError } from "atoll/contract";
import type { SandboxRepo, SandboxRow } from "../store/sandbox-repo.js";
import type { TenantRepo } from "../store/tenant-repo.js";
import type { VolumeRepo, VolumeRow } from "../store/volume-repo.js";

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
      const max = this.deps.tenants.get(row.tenant)?.maxVolumeGb;
      if (max !== null && max !== undefined) {
        const used = this.deps.volumes.totalGb(row.tenant);
        if (used + row.sizeGb > max) {
          throw new CapacityError(
            "QUOTA_EXCEEDED",
            `Tenant "${row.tenant}" may have at most ${max} GiB of volumes and has ${used} GiB; a ${row.sizeGb} GiB volume does not fit. Delete volumes or ask an admin to raise the quota.`,
            { quota: "maxVolumeGb", limit: max, current: used, requested: row.sizeGb },
          );
        }
      }
      return this.deps.volumes.tryInsert(row);
    });
  }
}
