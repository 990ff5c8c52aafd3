import assert from "node:assert/strict";
import { test } from "node:test";
import { CgroupV1 } from "./cgroup-v1.js";
import { CgroupV2 } from "./cgroup-v2.js";

const mountinfo = (lines: string[]) => lines.map((l, i) => `${30 + i} 23 0:${40 + i} / ${l} rw,relatime - cgroup cgroup rw,${l.split("/").pop()}`).join("\n");

test("cgroup v1: each controller's sandbox directory appears under /sys/fs/cgroup/<controller>", () => {
  const v1 = CgroupV1.fromMountInfo(mountinfo(["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct"]), "atoll");
  assert.deepEqual(v1.open("sbx1").viewDirs, [
    { dir: "/sys/fs/cgroup/memory/atoll/sbx1", target: "/sys/fs/cgroup/memory" },
    { dir: "/sys/fs/cgroup/pids/atoll/sbx1", target: "/sys/fs/cgroup/pids" },
    { dir: "/sys/fs/cgroup/cpu/atoll/sbx1", target: "/sys/fs/cgroup/cpu" },
    { dir: "/sys/fs/cgroup/cpuacct/atoll/sbx1", target: "/sys/fs/cgroup/cpuacct" },
  ]);
});

test("cgroup v1: a co-mounted cpu,cpuacct hierarchy appears under both names", () => {
  const text = [
    "30 23 0:40 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    "31 23 0:41 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
    "32 23 0:42 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
  ].join("\n");
  const view = CgroupV1.fromMountInfo(text, "atoll").open("sbx2").viewDirs;
  assert.deepEqual(
    view.filter((v) => v.target.startsWith("/sys/fs/cgroup/cpu")),
    [
      { dir: "/sys/fs/cgroup/cpu,cpuacct/atoll/sbx2", target: "/sys/fs/cgroup/cpu" },
      { dir: "/sys/fs/cgroup/cpu,cpuacct/atoll/sbx2", target: "/sys/fs/cgroup/cpuacct" },
    ],
  );
});

test("cgroup v2: the sandbox's one directory is /sys/fs/cgroup", () => {
  assert.deepEqual(new CgroupV2("/sys/fs/cgroup", "atoll").open("sbx3").viewDirs, [{ dir: "/sys/fs/cgroup/atoll/sbx3", target: "/sys/fs/cgroup" }]);
});
