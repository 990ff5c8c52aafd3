/** Small helpers shared by the cgroup v1 and v2 drivers: reading and parsing cgroup files, the kill loop. */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { SandboxCgroup } from "./cgroups.js";
import { DaemonError } from "../daemon-error.js";

/** Reads a cgroup file; undefined when it does not exist (or its cgroup is being removed: ENODEV). */
export async function readCgroupFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENODEV") return undefined;
    throw err;
  }
}

/** `key value` lines (memory.events, memory.oom_control, cpu.stat) → value of `key`, or 0. */
export function flatKeyedValue(text: string | undefined, key: string): number {
  if (!text) return 0;
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return Number.parseInt(v, 10) || 0;
  }
  return 0;
}

/** Parses a cgroup.procs file into pids. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** SIGKILLs pids, ignoring the ones that are gone already. */
function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
}

/** How long a destroy waits for a cgroup's processes to die after SIGKILL. */
const EMPTY_WAIT_MS = 10_000;

/**
 * Waits until the cgroup has no process left, SIGKILLing those it finds on each round unless
 * `signal` is false (v2 with cgroup.kill: the kernel did it). Throws after EMPTY_WAIT_MS: a
 * process that SIGKILL does not end (stuck in the kernel) keeps its cgroup from being removed.
 */
export async function killUntilEmpty(cgroup: Pick<SandboxCgroup, "id" | "pids">, signal = true): Promise<void> {
  const deadline = Date.now() + EMPTY_WAIT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const pids = await cgroup.pids();
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new DaemonError("HOST_CLEANUP_FAILED", `cgroup ${cgroup.id} still has processes ${pids.join(" ")} after SIGKILL`);
    if (signal) killPids(pids);
    await sleep(delay);
  }
}

/**
 * Retries `fn` (an rmdir of a cgroup whose last tasks are still exiting) while it throws
 * EBUSY, up to `timeoutMs`.
 */
export async function retryBusy(fn: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw err;
      await sleep(delay);
    }
  }
}

/** cgroup v1 cpu.shares from a v2-style weight (100 = default share of 1024). */
export function cpuSharesFromWeight(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}
