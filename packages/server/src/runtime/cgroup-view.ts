/**
 * The sandbox's own cgroups, visible inside it read-only at /sys/fs/cgroup (cgroup v1:
 * `/sys/fs/cgroup/{memory,pids,cpu,cpuacct}`, v2: `/sys/fs/cgroup`), so runtimes that size
 * themselves from their limits find them: Node's `process.constrainedMemory()` and heap size, the
 * JVM's container support, Go's memory-limit tooling. The sandbox's cgroup namespace is rooted
 * at its cgroup (bwrap --unshare-cgroup, after the launcher joined it), so /proc/self/cgroup says
 * `/` and the mounts' roots in /proc/self/mountinfo are `/`, as in a container.
 *
 * The binds are made on the host before bwrap starts, with atoll-mount (read-only, nosuid,
 * nodev), so they arrive in the sandbox locked: sandbox root cannot remount them read-write or
 * unmount them. Their files belong to host root, which the sandbox's user namespace does not
 * map, so they would not be writable even on a writable mount. No hierarchy root is ever
 * exposed (no release_agent, no other sandbox's cgroup).
 */
import type { CommandRunner } from "../host/run-command.js";
import { runAtollMount } from "./bwrap-sandbox.js";
import type { SandboxCgroup } from "./cgroups.js";

/** Binds `cgroup`'s directories read-only at their places under the sandbox root `root`. */
export async function mountCgroupView(runner: CommandRunner, atollMount: string, root: string, cgroup: SandboxCgroup): Promise<void> {
  // One atoll-mount run for all of them (it creates the missing parents).
  await runAtollMount(runner, atollMount, ["bind-ro", root, ...cgroup.viewDirs.flatMap((v) => [v.dir, v.target])]);
}
