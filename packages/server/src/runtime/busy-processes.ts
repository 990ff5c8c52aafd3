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

/**
 * Lists the processes among `pids` (host pids) that have their cwd, root or an open file at
 * or under `target` (a path inside the sandbox whose root is `hostRoot` on the host).
 * One entry per (process, path).
 */
export async function findBusyProcesses(pids: readonly number[], hostRoot: string, target: string): Promise<BusyProcess[]> {
  const want = path.posix.normalize(target).replace(/(.)\/$/, "$1");
  const hostMnt = await linkOf("/proc/self/ns/mnt");
  const results: BusyProcess[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      const base = `/proc/${pid}`;
      // bwrap's outer process shares the daemon's mount namespace: its paths are host paths.
      const mnt = await linkOf(`${base}/ns/mnt`);
      if (mnt === undefined || mnt === hostMnt) return;
      const fds = await readdir(`${base}/fd`).catch(() => [] as string[]);
      const links = await Promise.all([`${base}/cwd`, `${base}/root`, ...fds.map((fd) => `${base}/fd/${fd}`)].map(linkOf));
      const paths = new Set<string>();
      for (const link of links) {
        const p = link === undefined ? undefined : sandboxPathOf(link, hostRoot);
        if (p !== undefined && isUnder(p, want)) paths.add(p);
      }
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
  return results.sort((a, b) => a.pid - b.pid || a.path.localeCompare(b.path));
}
