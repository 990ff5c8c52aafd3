/**
 * Which processes of a sandbox hold files under a path (their cwd, root or open descriptors):
 * what keeps a volume busy before a hot detach. Read from /proc of the host.
 */
import { readFile, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import type { BusyProcess } from "../core/drivers.js";

/**
 * Maps a /proc/<pid>/{cwd,root,fd/N} link target to a path inside the sandbox, or undefined
 * for non-files (pipes, sockets, anon inodes). The kernel prints paths of another mount
 * namespace relative to that namespace's root (sandbox paths); paths it can reach from the
 * host's root come out as host paths under `hostRoot`, which are mapped back.
 */
export function sandboxPathOf(link: string, hostRoot: string): string | undefined {
  if (!link.startsWith("/")) return undefined;
  const file = link.endsWith(" (deleted)") ? link.slice(0, -" (deleted)".length) : link;
  if (file === hostRoot) return "/";
  if (file.startsWith(`${hostRoot}/`)) return file.slice(hostRoot.length);
  return file;
}

/** true when `p` is `target` or below it (both absolute, normalised). */
export function isUnder(p: string, target: string): boolean {
  if (target === "/") return true;
  return p === target || p.startsWith(`${target}/`);
}

async function linkOf(file: string): Promise<string | undefined> {
  try {
    return await readlink(file);
  } catch {
    return undefined; // process exited, or the descriptor was closed meanwhile
  }
}

/** The pid as the sandbox sees it (last NSpid entry), else the host pid. */
async function sandboxPid(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
    const last = line?.trim().split(/\s+/).pop();
    const n = last === undefined ? NaN : Number.parseInt(last, 10);
    return Number.isInteger(n) ? n : pid;
  } catch {
    return pid;
  }
}

/** At most this many (process, path) entries are reported: deciding "busy" needs one. */
export const MAX_BUSY_REPORTED = 100;
/** Processes looked at together, and descriptor links read together per process. */
const PID_BATCH = 32;
const LINK_BATCH = 512;

/** The links of `base`'s cwd, root and open descriptors that point at or under `want`. */
async function pathsUnder(base: string, hostRoot: string, want: string): Promise<Set<string>> {
  const paths = new Set<string>();
  const add = (link: string | undefined) => {
    const p = link === undefined ? undefined : sandboxPathOf(link, hostRoot);
    if (p !== undefined && isUnder(p, want)) paths.add(p);
  };
  for (const link of await Promise.all([linkOf(`${base}/cwd`), linkOf(`${base}/root`)])) add(link);
  // A sandbox process may hold a million descriptors: read their links in bounded batches.
  const fds = await readdir(`${base}/fd`).catch(() => [] as string[]);
  for (let i = 0; i < fds.length; i += LINK_BATCH) {
    for (const link of await Promise.all(fds.slice(i, i + LINK_BATCH).map((fd) => linkOf(`${base}/fd/${fd}`)))) add(link);
  }
  return paths;
}

/**
 * Lists the processes among `pids` (host pids) that have their cwd, root or an open file at
 * or under `target` (a path inside the sandbox whose root is `hostRoot` on the host).
 * One entry per (process, path), at most MAX_BUSY_REPORTED. What a sandbox holds is the
 * sandbox's to choose, so the scan works in bounded batches and stops once the report is full.
 */
export async function findBusyProcesses(pids: readonly number[], hostRoot: string, target: string): Promise<BusyProcess[]> {
  const want = path.posix.normalize(target).replace(/(.)\/$/, "$1");
  const hostMnt = await linkOf("/proc/self/ns/mnt");
  const results: BusyProcess[] = [];
  for (let i = 0; i < pids.length && results.length < MAX_BUSY_REPORTED; i += PID_BATCH) {
    await Promise.all(
      pids.slice(i, i + PID_BATCH).map(async (pid) => {
        const base = `/proc/${pid}`;
        // bwrap's outer process shares the daemon's mount namespace: its paths are host paths.
        const mnt = await linkOf(`${base}/ns/mnt`);
        if (mnt === undefined || mnt === hostMnt) return;
        const paths = await pathsUnder(base, hostRoot, want);
        if (paths.size === 0) return;
        const [command, inner] = await Promise.all([
          readFile(`${base}/comm`, "utf8").then(
            (c) => c.trim(),
            () => "?",
          ),
          sandboxPid(pid),
        ]);
        for (const p of paths) results.push({ pid: inner, command, path: p });
      }),
    );
  }
  return results.sort((a, b) => a.pid - b.pid || a.path.localeCompare(b.path)).slice(0, MAX_BUSY_REPORTED);
}
