/**
 * What a stopped daemon left on the machine, found from its state directory alone: mounts under
 * it, loop devices backed by files in it, its cgroup parent (`atoll-<hash>` in every hierarchy),
 * its network namespaces (`/run/netns/atoll-<hash>*`) and processes that still name it. Another
 * daemon's resources (other state directories, other helpers' tests) are never counted.
 *
 * @example
 *   await daemon.stop();
 *   assert.deepEqual(machineLeftovers(daemon.stateDir), []);
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";

/** The 8 hex digits both the cgroup parent and the router namespace are named after. */
function stateHash(stateDir: string): string {
  return createHash("sha256").update(path.resolve(stateDir)).digest("hex").slice(0, 8);
}

export function machineLeftovers(stateDir: string): string[] {
  const dir = path.resolve(stateDir);
  const hash = stateHash(dir);
  const found: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mountPoint = line.split(" ")[4];
    if (mountPoint && (mountPoint === dir || mountPoint.startsWith(`${dir}/`))) found.push(`mount ${mountPoint}`);
  }
  const loops = execFileSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" });
  for (const line of loops.split("\n")) if (line.includes(`${dir}/`)) found.push(`loop ${line.trim()}`);
  const cgroupRoots = ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((h) => `/sys/fs/cgroup/${h}`)];
  for (const root of new Set(cgroupRoots)) {
    const parent = `${root}/atoll-${hash}`;
    if (existsSync(parent)) found.push(`cgroup ${parent}`);
  }
  const netns = (existsSync("/run/netns") ? readdirSync("/run/netns") : []).filter((n) => n.startsWith(`atoll-${hash}`));
  found.push(...netns.map((n) => `netns ${n}`));
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.includes(dir) || cmdline.includes(`atoll-${hash}`)) found.push(`process ${pid} ${cmdline.trim()}`);
  }
  return found;
}
