/**
 * Moves every volume's files to a new sandbox id range, at daemon start, before any sandbox
 * runs (docs/operations.md, "The sandbox id range"): each volume is mounted on the host, its
 * owners, groups, ACLs and capability root ids in [from, from+65536) are moved to the same
 * offset from `to` (native/atoll-idshift.c), and it is unmounted again. A volume whose files
 * belong to neither range stops the move: it was made with another base, and moving it blindly
 * would leave its files owned by nobody.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import type { StorageDriver } from "../core/drivers.js";
import { shiftIds } from "../host/id-shift.js";
import type { CommandRunner } from "../host/run-command.js";
import { SANDBOX_ID_COUNT } from "../host/uid-range.js";
import { DaemonError } from "../daemon-error.js";

/** What a move did, for the log. */
export interface VolumeIdMoveResult {
  volumes: number;
  entries: number;
  moved: number;
  ms: number;
}

/**
 * Moves the volumes `volumeIds` (all ready, none in use) from base `from` to base `to`, two to
 * four at a time. The first failure stops the queue and is thrown once the others finished.
 * Safe to run again after an interruption: what was moved already is left as it is.
 */
export async function moveVolumeIds(
  deps: { storage: Pick<StorageDriver, "acquire" | "release">; nativeDir: string; logger: Logger; runner: CommandRunner },
  volumeIds: readonly string[],
  from: number,
  to: number,
): Promise<VolumeIdMoveResult> {
  const started = performance.now();
  const total: VolumeIdMoveResult = { volumes: 0, entries: 0, moved: 0, ms: 0 };
  const queue = [...volumeIds];
  const inRange = (id: number, base: number) => id >= base && id < base + SANDBOX_ID_COUNT;
  const moveOne = async (id: string) => {
    const dir = await deps.storage.acquire(id);
    try {
      const root = await stat(dir);
      if (!inRange(root.uid, from) && !inRange(root.uid, to)) {
        throw new DaemonError(
          "UID_RANGE_CONFLICT",
          `volume ${id}: its root is owned by host uid ${root.uid}, outside the range ${from}–${from + SANDBOX_ID_COUNT - 1} being moved; it was made with another ATOLL_UID_BASE: start the daemon once with ATOLL_UID_BASE set to that base`,
        );
      }
      const r = await shiftIds(deps.runner, dir, from, to, deps.nativeDir);
      deps.logger.info({ volumeId: id, entries: r.entries, moved: r.moved }, "volume moved to the new sandbox id range");
      total.volumes += 1;
      total.entries += r.entries;
      total.moved += r.moved;
    } finally {
      await deps.storage.release(id);
    }
  };
  let failed = false;
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined && !failed; id = queue.shift()) {
      try {
        await moveOne(id);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  // Every worker finishes (or fails) before this returns: none may still hold a mount after.
  const results = await Promise.allSettled(Array.from({ length: Math.max(2, Math.min(4, availableParallelism())) }, worker));
  const error = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (error) throw error.reason;
  total.ms = Math.round(performance.now() - started);
  return total;
}
