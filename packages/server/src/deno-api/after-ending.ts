/**
 * Deno's client closes a "session" sandbox (`await using`) without waiting for it to stop, so a
 * volume or snapshot it held is released a moment later. A request that finds it still held by
 * such ending sandboxes waits for them once and tries again; a running holder still gets the error.
 */
import { AtollError } from "atoll/contract";
import type { SandboxService } from "../core/sandbox-service.js";

const HELD = new Set(["VOLUME_IN_USE", "SNAPSHOT_IN_USE"]);

/**
 * Runs `attempt`; on VOLUME_IN_USE / SNAPSHOT_IN_USE naming sandboxes, waits for those of them
 * that are ending (never for running ones) and runs it once more.
 *
 * @example await afterEnding(s.sandboxes, () => s.snapshots.delete(tenant, "my-snapshot"));
 */
export async function afterEnding<T>(sandboxes: Pick<SandboxService, "awaitEnding">, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    const held = err instanceof AtollError && HELD.has(err.code) ? err.details?.sandboxes : undefined;
    if (!Array.isArray(held)) throw err;
    await sandboxes.awaitEnding(held.filter((id): id is string => typeof id === "string"));
    return attempt();
  }
}
