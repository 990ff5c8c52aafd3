/**
 * Upkeep of volume images at daemon start (LoopVolumeBackend.reconcile): repair a filesystem a
 * crash left dirty, and allocate in full an image an earlier version made sparse.
 */
import { stat } from "node:fs/promises";
import type { DiskBudget } from "../host/disk-budget.js";
import type { CommandRunner } from "../host/run-command.js";
import { Ext4CheckError, allocateFile, fsckExt4 } from "../host/ext4-image.js";
import type { StorageLogger } from "./loop-volume-backend.js";

/**
 * Images made before volumes were allocated in full are sparse: allocate them now, so they
 * cannot hit EIO when the host fills. Best effort: with too little free space it stays sparse
 * (logged) and is allocated at a later start.
 */
export async function allocateInFull(
  deps: { log: StorageLogger; disk: Pick<DiskBudget, "withVolume">; runner: CommandRunner },
  volumeId: string,
  image: string,
): Promise<void> {
  const st = await stat(image);
  if (st.blocks * 512 >= st.size) return;
  const allocate = () => allocateFile(deps.runner, image, st.size);
  try {
    // Counted like a new volume of the missing bytes: it must not eat into the host's reserve.
    await deps.disk.withVolume(st.size, image, allocate);
    deps.log.info({ volumeId }, "allocated a sparse volume image in full");
  } catch (err) {
    deps.log.warn({ volumeId, err }, "could not allocate a sparse volume image in full; it can still hit EIO when the host disk fills");
  }
}

/** e2fsck -p one image; if preen cannot fix it, e2fsck -fy. Logs, never throws for fs errors. */
export async function checkImage(runner: CommandRunner, log: StorageLogger, volumeId: string, image: string): Promise<void> {
  try {
    const result = await fsckExt4(runner, image);
    if (result.fixed) log.warn({ volumeId, output: result.output }, "e2fsck repaired volume");
    return;
  } catch (error) {
    if (!(error instanceof Ext4CheckError)) throw error;
    log.error({ volumeId, output: error.output }, "e2fsck -p could not repair volume; running e2fsck -fy");
  }
  try {
    await fsckExt4(runner, image, { force: true, mode: "yes" });
    log.warn({ volumeId }, "e2fsck -fy repaired volume");
  } catch (error) {
    if (!(error instanceof Ext4CheckError)) throw error;
    log.error({ volumeId, output: error.output }, "volume filesystem is damaged beyond automatic repair");
  }
}
