import type { Logger } from "pino";
import type { AttachmentRepo } from "../store/attachment-repo.js";
import type { SandboxRepo } from "../store/sandbox-repo.js";
import type { VolumeRepo } from "../store/volume-repo.js";
import type { RuntimeDriver, StorageDriver } from "./drivers.js";
import { nowIso } from "./ids.js";

/**
 * Makes the store and the host agree when the daemon starts. Sandboxes never outlive the
 * daemon (their init exits when its control channel closes), so every sandbox the store calls
 * live is marked stopped, and every host resource of the previous run is removed. Volumes keep
 * their data; their images are checked before their next mount.
 */
export async function reconcileOnStart(deps: {
  sandboxes: SandboxRepo;
  volumes: VolumeRepo;
  attachments: AttachmentRepo;
  runtime: RuntimeDriver;
  storage: StorageDriver;
  logger: Logger;
  /** Snapshots the store has, ready ones (issue 14); the others' rows are dropped here. Absent: snapshots are left alone. */
  snapshots?: () => ReadonlySet<string>;
}): Promise<void> {
  const at = nowIso();
  const live = deps.sandboxes.listLive();
  for (const row of live) {
    deps.attachments.deleteForSandbox(row.id);
    deps.sandboxes.setStopped(row.id, "daemon-restart", at);
  }
  const removed = await deps.runtime.cleanupOrphans(new Set());
  const keep = new Set<string>();
  for (const v of deps.volumes.listAll()) {
    if (v.state === "ready") keep.add(v.id);
    else deps.volumes.delete(v.id); // half-created or half-deleted: its image goes with the strays
  }
  await deps.storage.reconcile(keep, deps.snapshots?.());
  deps.logger.info({ stoppedSandboxes: live.length, orphanSandboxes: removed.length, volumes: keep.size }, "reconciled store with host");
}
