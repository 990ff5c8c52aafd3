import type { Logger } from "pino";
import type { AttachmentRepo } from "../store/attachment-repo.js";
import type { SandboxRepo, SandboxRow } from "../store/sandbox-repo.js";
import type { VolumeRepo } from "../store/volume-repo.js";
import type { RuntimeDriver, RuntimeSandbox, StorageDriver } from "./drivers.js";
import { forEachConcurrently } from "./for-each-concurrently.js";
import { nowIso } from "./ids.js";

/** Sandboxes adopted at once at start (each waits on its shim and init, not on the CPU). */
const ADOPT_CONCURRENCY = 16;

/** A sandbox of a previous daemon run that this one took over (SandboxService.adopt registers it). */
export interface AdoptedSandbox {
  row: SandboxRow;
  runtime: RuntimeSandbox;
}

/** What reconcileOnStart did ("adopted 12 sandboxes, 30 volumes; ended 1 whose timeout passed"). */
export interface ReconcileResult {
  adopted: AdoptedSandbox[];
  /** Volumes that adopted sandboxes hold. */
  adoptedVolumes: number;
  /** Ended at adoption: their timeout passed while no daemon ran. */
  timedOut: number;
  /** Stopped with `daemon-restart`: their shim was gone or did not answer. */
  stopped: number;
}

/**
 * Makes the store and the host agree when the daemon starts (docs/architecture.md, "Reconcile"
 * and "Live restore"). A sandbox the store calls running whose shim still answers is adopted:
 * it keeps running with its processes, scratch, volumes (their mounts and loop devices stay,
 * held once per sandbox) and timeout. One whose wall-clock deadline passed while no daemon ran
 * is ended with reason `timeout`; one whose shim is gone (the host rebooted, it was killed) is
 * stopped with `daemon-restart`. Every host resource nobody in the store owns is removed. The
 * network of an adopted sandbox is taken over afterwards (NetworkService.adopt, in daemon.ts).
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
}): Promise<ReconcileResult> {
  const adopted: AdoptedSandbox[] = [];
  let timedOut = 0;
  let stopped = 0;
  const stopAs = (row: SandboxRow, reason: string) => {
    deps.attachments.deleteForSandbox(row.id);
    deps.sandboxes.setStopped(row.id, reason, nowIso());
  };
  // Adopting is mostly waiting (a shim's socket, init's HELLO, a disk check): many at once, so a
  // restart with a hundred running sandboxes takes about as long as one with a few.
  const adoptable: SandboxRow[] = [];
  for (const row of deps.sandboxes.listLive()) {
    if (row.expiresAt !== null && Date.parse(row.expiresAt) <= Date.now()) {
      stopAs(row, "timeout");
      timedOut++;
    } else adoptable.push(row);
  }
  const found = new Map<string, RuntimeSandbox>();
  await forEachConcurrently(adoptable, ADOPT_CONCURRENCY, async (row) => {
    if (row.state !== "running" || !deps.runtime.adopt) return;
    const limits = { memoryBytes: row.memoryBytes, pids: row.pids, cpuWeight: row.cpuWeight, rootfsBytes: row.rootfsBytes };
    const runtime = await deps.runtime.adopt(row.id, { limits }).catch((err: unknown) => {
      deps.logger.warn({ err, sandboxId: row.id }, "adopting a sandbox failed");
      return undefined;
    });
    if (runtime) found.set(row.id, runtime);
  });
  for (const row of adoptable) {
    const runtime = found.get(row.id);
    if (runtime) adopted.push({ row, runtime });
    else {
      stopAs(row, "daemon-restart");
      stopped++;
    }
  }
  const removed = await deps.runtime.cleanupOrphans(new Set(adopted.map((a) => a.row.id)));
  const keep = new Set<string>();
  for (const v of deps.volumes.listAll()) {
    if (v.state === "ready") keep.add(v.id);
    else deps.volumes.delete(v.id); // half-created or half-deleted: its image goes with the strays
  }
  const inUse = new Map<string, number>();
  for (const a of adopted) {
    for (const att of deps.attachments.forSandbox(a.row.id)) {
      // A crash between an attach's row and its bind (or a detach's unbind and its row) leaves a
      // row without the volume inside the sandbox: the row goes (the request's retry redoes it).
      if (a.runtime.hasMount && !(await a.runtime.hasMount(att.mountPath))) {
        deps.logger.warn(
          { sandboxId: a.row.id, volumeId: att.volumeId, mountPath: att.mountPath },
          "an attachment of an adopted sandbox was not mounted in it; dropped",
        );
        deps.attachments.delete(a.row.id, att.volumeId);
        continue;
      }
      inUse.set(att.volumeId, (inUse.get(att.volumeId) ?? 0) + 1);
    }
  }
  await deps.storage.reconcile(keep, inUse, deps.snapshots?.());
  deps.logger.info(
    { adoptedSandboxes: adopted.length, adoptedVolumes: inUse.size, timedOut, stoppedSandboxes: stopped, orphanSandboxes: removed.length, volumes: keep.size },
    "reconciled store with host",
  );
  return { adopted, adoptedVolumes: inUse.size, timedOut, stopped };
}
