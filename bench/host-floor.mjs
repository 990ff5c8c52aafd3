/** The floor: what bare bubblewrap costs on this machine, measured in the same run. */
import { execFileSync } from "node:child_process";
import { timeRuns } from "./stats.mjs";

export async function bwrapFloor(n = 50) {
  const args = ["--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"];
  return timeRuns(n, () => execFileSync("bwrap", args));
}
