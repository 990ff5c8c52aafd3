/**
 * Fault injection for the crash-point test (docs/testing.md, "Crash points"): the daemon dies by
 * SIGKILL at one named step of a request, as in a power cut or `kill -9`, so the test can check
 * what the next daemon finds.
 *
 * The step is named by the environment variable ATOLL_CRASH_AT, read once when the daemon
 * starts (armCrashPoint) and removed from the daemon's environment so no child inherits it.
 * Nothing over the API can arm a point. Unarmed, crashPoint() is one comparison with undefined.
 *
 * @example
 *   ATOLL_CRASH_AT=volume.create.after-mkfs atoll serve   # the first volume create kills the daemon
 */
import { DaemonError } from "./daemon-error.js";

/**
 * Every crash point, in the order a request passes them. The test (e2e/crash-points.itest.ts)
 * iterates this list: a point renamed or added here without a scenario fails it.
 */
export const CRASH_POINTS = [
  // POST /v1/sandboxes
  "sandbox.create.after-row",
  "sandbox.create.after-volume-refs",
  "sandbox.create.after-cgroup",
  "sandbox.create.after-scratch",
  "sandbox.create.after-overlay",
  "sandbox.create.after-network",
  "sandbox.create.after-volume-mounts",
  "sandbox.create.after-init-ready",
  "sandbox.create.before-running",
  // hot attach
  "attach.after-host-mount",
  "attach.after-row",
  "attach.after-bind",
  // hot detach
  "detach.after-unbind",
  "detach.after-row",
  // kill (and every other stop)
  "kill.after-processes",
  "kill.after-unmount",
  "kill.after-scratch",
  "kill.before-row",
  // volume create
  "volume.create.after-row",
  "volume.create.after-image",
  "volume.create.after-mkfs",
  "volume.create.before-ready",
  // volume delete
  "volume.delete.after-detach",
  "volume.delete.after-deleting",
  "volume.delete.after-image",
  // volume file operations (volume.fs)
  "volume.files.after-mount",
  // snapshot of a volume in use (issue 14)
  "snapshot.create.after-row",
  "snapshot.create.while-frozen",
  "snapshot.create.before-ready",
  // snapshot delete
  "snapshot.delete.after-deleting",
  "snapshot.delete.after-image",
  // volume made from a snapshot (a fork)
  "volume.fork.after-clone",
  // atoll image import (issue 14): work dir full, then the row, the filled volume, the snapshot
  "image.import.after-unpack",
  "image.import.after-row",
  "image.import.after-fill",
  "image.import.before-ready",
] as const;

export type CrashPointName = (typeof CRASH_POINTS)[number];

let armed: CrashPointName | undefined;

/**
 * Reads ATOLL_CRASH_AT from `env` once (daemon start) and deletes it there. Unknown names are
 * refused, so a test with a misspelt point fails instead of passing without a crash.
 * Returns the armed point, if any.
 */
export function armCrashPoint(env: NodeJS.ProcessEnv): CrashPointName | undefined {
  const wanted = env.ATOLL_CRASH_AT;
  delete env.ATOLL_CRASH_AT;
  if (wanted === undefined || wanted === "") return undefined;
  if (!(CRASH_POINTS as readonly string[]).includes(wanted)) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `ATOLL_CRASH_AT=${wanted} names no crash point; unset it (it is for tests), or use one of ${CRASH_POINTS.join(", ")}`,
    );
  }
  armed = wanted as CrashPointName;
  return armed;
}

/** Kills this process with SIGKILL when `name` is the armed point; otherwise does nothing. */
export function crashPoint(name: CrashPointName): void {
  if (armed === name) process.kill(process.pid, "SIGKILL");
}
