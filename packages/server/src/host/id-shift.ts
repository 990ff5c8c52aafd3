import path from "node:path";
import type { CommandRunner } from "./run-command.js";
import { SANDBOX_ID_COUNT } from "./uid-range.js";
import { DaemonError } from "../daemon-error.js";

/** What a move of a tree to another id range did. */
export interface IdShiftResult {
  /** Names visited (a hard link counts once per name). */
  entries: number;
  /** Names whose owner, group, ACL or capability root id changed. */
  moved: number;
}

/**
 * Moves every owner and group of the sandbox id range [from, from+65536) under `dir` to the same
 * offset in [to, to+65536), with setuid/setgid bits, file capabilities and POSIX ACLs kept
 * (native/atoll-idshift.c). `dir` must not be in use. Running it again over a half-moved tree
 * finishes the job.
 *
 * @example await shiftIds(runner, "/var/lib/atoll/run/volumes/vol_x", 100000, 1879048192, nativeDir);
 */
export async function shiftIds(runner: CommandRunner, dir: string, from: number, to: number, nativeDir: string): Promise<IdShiftResult> {
  const { stdout } = await runner.run(path.join(nativeDir, "atoll-idshift"), [String(from), String(to), String(SANDBOX_ID_COUNT), dir], {
    // One pass over a tree: minutes for millions of files, never a hang worth killing.
    timeoutMs: 24 * 3600_000,
  });
  const m = /^entries (\d+) moved (\d+)$/m.exec(stdout);
  if (!m) throw new DaemonError("HOST_COMMAND_FAILED", `atoll-idshift printed ${JSON.stringify(stdout.trim())}`);
  return { entries: Number(m[1]), moved: Number(m[2]) };
}
