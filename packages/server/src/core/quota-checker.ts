import { CapacityError } from "atoll/contract";
import type { SandboxRepo } from "../store/sandbox-repo.js";
import type { TenantRepo } from "../store/tenant-repo.js";
import type { VolumeRepo } from "../store/volume-repo.js";

/**
 * Per-tenant quotas, checked when a sandbox or volume is created (QUOTA_EXCEEDED). Tenants
 * without a row or with a null limit are not limited.
 */
export class QuotaChecker {
  constructor(private readonly deps: { tenants: TenantRepo; sandboxes: SandboxRepo; volumes: VolumeRepo }) {}

  checkSandbox(tenant: string): void {
    const max = this.deps.tenants.get(tenant)?.maxSandboxes;
    if (max === null || max === undefined) return;
    const running = this.deps.sandboxes.list(tenant).filter((s) => s.state !== "stopped").length;
    if (running + 1 > max) {
      throw new CapacityError("QUOTA_EXCEEDED", `Tenant "${tenant}" may run at most ${max} sandboxes and has ${running}; kill one first or ask an admin to raise the quota.`, {
        quota: "maxSandboxes",
        limit: max,
        current: running,
      });
    }
  }

  checkVolume(tenant: string, sizeGb: number): void {
    const max = this.deps.tenants.get(tenant)?.maxVolumeGb;
    if (max === null || max === undefined) return;
    const used = this.deps.volumes.list(tenant).reduce((sum, v) => sum + v.sizeGb, 0);
    if (used + sizeGb > max) {
      throw new CapacityError(
        "QUOTA_EXCEEDED",
        `Tenant "${tenant}" may have at most ${max} GiB of volumes and has ${used} GiB; a ${sizeGb} GiB volume does not fit. Delete volumes or ask an admin to raise the quota.`,
        { quota: "maxVolumeGb", limit: max, current: used, requested: sizeGb },
      );
    }
  }
}
