/** The floor: what bare bubblewrap costs on this machine, measured in the same run. */
import { execFileSync } from "node:child_process";
import { timeRuns } from "./stats.mjs";

export async function bwrapFloor(n = 50) {
  // /usr (and the merged-/usr links) rather than all of /: a recursive bind of / races with
  // network namespaces that daemons add and remove under /run/netns meanwhile.
  const args = [
    "--unshare-all",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--",
    "/bin/true",
  ];
  return timeRuns(n, () => execFileSync("bwrap", args));
}
