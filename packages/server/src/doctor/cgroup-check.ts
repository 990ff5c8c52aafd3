/**
 * The cgroup check: which version the host runs (the runtime detects it the same way,
 * runtime/cgroups.ts), whether the controllers sandboxes are limited with are there (memory,
 * pids, cpu) and whether root may write the hierarchy (a read-only /sys/fs/cgroup in a container).
 */
import { accessSync, constants, existsSync } from "node:fs";
import { parseMountInfo } from "../host/mounts.js";
import { type Check, type Verdict, fail, ok } from "./check-types.js";
import { errnoText, readText } from "./host-probes.js";

/** The controllers sandbox limits use: memory (memory), pids (pids), cpu (weight). */
export const CGROUP_CONTROLLERS = ["memory", "pids", "cpu"] as const;

/** What the host said about its cgroups. */
export type CgroupFacts =
  | {
      version: 2;
      /** Text of <root>/cgroup.controllers: what the root may hand to children. */
      controllers: string;
      /** undefined: root may write the root; else why not ("EROFS: read-only file system"). */
      notWritable: string | undefined;
    }
  | {
      version: 1;
      /** controller → mount point of its hierarchy, from /proc/self/mountinfo. */
      mounts: Map<string, string>;
      /** A cgroup2 filesystem next to them (hybrid: systemd's, unused for limits). */
      hybrid: boolean;
      /** Hierarchy mount point → why root may not write it. */
      notWritable: Map<string, string>;
    };

export function judgeCgroups(f: CgroupFacts): Verdict {
  if (f.version === 2) {
    const have = f.controllers.trim().split(/\s+/);
    const missing = CGROUP_CONTROLLERS.filter((c) => !have.includes(c));
    if (missing.length > 0) {
      return fail(
        `cgroup v2 without the ${missing.join(", ")} controller${missing.length > 1 ? "s" : ""} (root offers: ${have.join(" ") || "none"})`,
        "the kernel needs CONFIG_MEMCG, CONFIG_CGROUP_PIDS and CONFIG_CGROUP_SCHED; in a container, delegate these controllers to it",
      );
    }
    if (f.notWritable)
      return fail(
        `cgroup v2, but /sys/fs/cgroup is not writable: ${f.notWritable}`,
        "run the daemon on the host, or in a container with a writable, delegated cgroup tree",
      );
    return ok(`v2 (unified) with ${CGROUP_CONTROLLERS.join(", ")}`);
  }
  const missing = CGROUP_CONTROLLERS.filter((c) => !f.mounts.has(c));
  if (missing.length > 0) {
    return fail(
      `cgroup v1 without the ${missing.join(", ")} hierarch${missing.length > 1 ? "ies" : "y"}`,
      `mount ${missing.map((c) => `-t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`).join("; mount ")} (or boot with systemd.unified_cgroup_hierarchy=1 for v2)`,
    );
  }
  const [mountPoint, why] = [...f.notWritable][0] ?? [];
  if (mountPoint)
    return fail(`cgroup v1, but ${mountPoint} is not writable: ${why}`, "run the daemon on the host, or in a container with a writable cgroup tree");
  const extra = f.mounts.has("cpuacct") ? ", cpuacct" : "";
  return ok(`v1${f.hybrid ? " (hybrid)" : ""} with ${CGROUP_CONTROLLERS.join(", ")}${extra}`);
}

function whyNotWritable(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (err) {
    return errnoText(err);
  }
}

/** Reads the host's cgroup layout the way runtime/cgroups.ts detects it. */
export function probeCgroups(root = "/sys/fs/cgroup"): CgroupFacts {
  if (existsSync(`${root}/cgroup.controllers`)) {
    return { version: 2, controllers: readText(`${root}/cgroup.controllers`) ?? "", notWritable: whyNotWritable(root) };
  }
  const mounts = new Map<string, string>();
  let hybrid = false;
  for (const entry of parseMountInfo(readText("/proc/self/mountinfo") ?? "")) {
    if (entry.fsType === "cgroup2") hybrid = true;
    if (entry.fsType !== "cgroup") continue;
    for (const opt of entry.superOptions) if (!mounts.has(opt)) mounts.set(opt, entry.mountPoint);
  }
  const notWritable = new Map<string, string>();
  for (const c of CGROUP_CONTROLLERS) {
    const mp = mounts.get(c);
    const why = mp === undefined ? undefined : whyNotWritable(mp);
    if (mp !== undefined && why !== undefined) notWritable.set(mp, why);
  }
  return { version: 1, mounts, hybrid, notWritable };
}

export const cgroupCheck: Check = { id: "cgroups", title: "cgroups", atStart: true, run: async () => judgeCgroups(probeCgroups()) };
