import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { DaemonError } from "../daemon-error.js";

/** A held lock; `release` is idempotent. */
export interface HeldLock {
  release(): void;
}

/** true if a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOwner(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Takes an exclusive lock file (`O_CREAT|O_EXCL`, holding the owner's pid) so that two image
 * builds on one host (two daemons, `npm test` next to `npm start`) never write the same
 * directory. Waits while a live process holds it; breaks it when its owner is dead (the stale
 * lock is renamed away first, so two waiters cannot both break it).
 *
 * @param onWait called once per owner when this call starts waiting for it.
 */
export async function acquireLock(path: string, options: { pollMs?: number; timeoutMs?: number; onWait?: (ownerPid: number) => void } = {}): Promise<HeldLock> {
  const pollMs = options.pollMs ?? 500;
  const deadline = Date.now() + (options.timeoutMs ?? 60 * 60 * 1000);
  let reportedOwner: number | null = null;
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          if (readOwner(path) === process.pid) unlinkSync(path);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = readOwner(path);
    if (owner !== null && !pidAlive(owner)) {
      breakStaleLock(path, owner);
      continue;
    }
    if (owner !== null && owner !== reportedOwner) {
      reportedOwner = owner;
      options.onWait?.(owner);
    }
    if (Date.now() > deadline) throw new DaemonError("IMAGE_BUILD_FAILED", `timed out waiting for lock ${path} held by pid ${owner ?? "?"}`);
    await sleep(pollMs);
  }
}

/** Moves a dead owner's lock aside; puts it back if it turned out to be someone else's. */
function breakStaleLock(path: string, deadOwner: number): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke it first
  }
  if (readOwner(aside) !== deadOwner) {
    try {
      linkSync(aside, path); // a live lock was taken in between: restore it unless replaced
    } catch {
      // a newer lock exists already; the one we moved is obsolete
    }
  }
  unlinkSync(aside);
}
