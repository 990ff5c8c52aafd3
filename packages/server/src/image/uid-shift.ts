import { chmodSync, lchownSync, lstatSync, readdirSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { CommandRunner } from "../host/run-command.js";
import { DaemonError } from "../daemon-error.js";

/** Highest uid/gid a sandbox can have: the user namespace maps 0..65535. */
export const MAPPED_ID_COUNT = 65_536;

/** What a walk over a tree found. */
export interface TreeStats {
  /** Distinct inodes (hard links count once). */
  inodes: number;
  /** Disk usage in bytes (allocated blocks × 512, hard links once), like `du -s`. */
  diskBytes: number;
}

/**
 * Shifts the owner and group of every entry under `root` (root included) by `base`, so that a
 * tree built for uids 0..65535 looks normal inside a user namespace mapping 0..65535 to
 * base..base+65535. Does not follow symlinks (lchown), does not cross into other filesystems,
 * and visits each inode once (hard links would be shifted twice otherwise).
 *
 * chown clears setuid/setgid bits, so the mode is restored afterwards; it also drops the
 * `security.capability` xattr: file capabilities are read with getcap before and re-applied
 * with setcap after (skipped, and reported in `capabilitiesLost`, when libcap2-bin is missing).
 *
 * Throws when an id is already outside 0..65535 (a tree that was shifted before).
 */
export async function shiftTreeOwners(
  runner: CommandRunner,
  root: string,
  base: number,
): Promise<TreeStats & { capabilitiesRestored: number; capabilitiesLost: boolean }> {
  if (!Number.isInteger(base) || base < 0 || base + MAPPED_ID_COUNT > 0xffff_fffe) {
    throw new DaemonError("IMAGE_BUILD_FAILED", `invalid uid base ${base}: must be an integer between 0 and ${0xffff_fffe - MAPPED_ID_COUNT}`);
  }
  const caps = await readFileCapabilities(runner, root);
  const stats = walkTree(root, (path, st) => {
    if (st.uid >= MAPPED_ID_COUNT || st.gid >= MAPPED_ID_COUNT) {
      throw new DaemonError("IMAGE_BUILD_FAILED", `${path} is owned by ${st.uid}:${st.gid}, outside 0..65535: was this tree shifted already?`);
    }
    if (base === 0) return;
    lchownSync(path, st.uid + base, st.gid + base);
    // chown on a non-directory clears S_ISUID/S_ISGID; put the exact mode back.
    if (!st.isSymbolicLink() && !st.isDirectory() && (st.mode & 0o6000) !== 0) {
      chmodSync(path, st.mode & 0o7777);
    }
  });
  let restored = 0;
  if (caps.entries && base !== 0) {
    for (const { path, caps: value } of caps.entries) {
      await runner.run("setcap", [value, path]);
      restored += 1;
    }
  }
  return { ...stats, capabilitiesRestored: restored, capabilitiesLost: caps.entries === null };
}

/** Sums disk usage and inode count of a tree (same rules as shiftTreeOwners' walk). */
export function treeStats(root: string): TreeStats {
  return walkTree(root, () => {});
}

/**
 * Depth-first walk under `root` (root itself first). Calls `visit` once per inode, never
 * follows symlinks, stays on root's filesystem (mount points below are skipped entirely).
 */
function walkTree(root: string, visit: (path: string, st: Stats) => void): TreeStats {
  const rootStat = lstatSync(root);
  const seen = new Set<number>();
  const stats: TreeStats = { inodes: 0, diskBytes: 0 };
  const stack: string[] = [root];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const st = lstatSync(path);
    if (st.dev !== rootStat.dev) continue;
    if (st.nlink > 1 && !st.isDirectory()) {
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
    }
    stats.inodes += 1;
    stats.diskBytes += st.blocks * 512;
    visit(path, st);
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) stack.push(join(path, name));
    }
  }
  return stats;
}

/**
 * Lists files with capabilities (`getcap -r`). Returns entries null when getcap is not
 * installed, so the caller can report that capabilities could not be preserved.
 */
async function readFileCapabilities(runner: CommandRunner, root: string): Promise<{ entries: { path: string; caps: string }[] | null }> {
  let stdout: string;
  try {
    ({ stdout } = await runner.run("getcap", ["-r", root]));
  } catch (error) {
    if ((error as { exitCode?: number | null }).exitCode === null) return { entries: null };
    throw error;
  }
  const entries: { path: string; caps: string }[] = [];
  for (const line of stdout.split("\n")) {
    // getcap prints "PATH CAPS" (libcap 2.4x) or "PATH = CAPS" (older releases).
    const m = /^(.*\S)\s+(?:=\s+)?(cap_\S.*)$/.exec(line.trim());
    if (m) entries.push({ path: m[1]!, caps: m[2]!.trim() });
  }
  return { entries };
}
