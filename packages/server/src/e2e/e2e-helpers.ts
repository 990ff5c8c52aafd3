import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { AtollError } from "atoll";

/**
 * Awaits `promise`, expecting it to fail with an Atoll error of `code`; returns the error so the
 * test can look at its message and details.
 */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<AtollError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AtollError && err.code === code) return err;
    throw new Error(`expected ${code}, got ${err instanceof AtollError ? err.code : String(err)}: ${(err as Error).message}`);
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** What the daemon of `stateDir` has on the host right now: loop devices, mounts, image files. */
export function hostFootprint(stateDir: string): { loops: string[]; mounts: string[] } {
  const loops = execFileSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(stateDir));
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(`${stateDir}/run/`));
  return { loops, mounts };
}
