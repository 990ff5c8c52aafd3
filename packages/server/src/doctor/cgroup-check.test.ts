import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeCgroups } from "./cgroup-check.js";

test("cgroup v2: the root must offer memory, pids and cpu, and be writable", () => {
  const good = judgeCgroups({ version: 2, controllers: "cpuset cpu io memory hugetlb pids rdma misc\n", notWritable: undefined });
  assert.deepEqual(good, { status: "ok", detail: "v2 (unified) with memory, pids, cpu" });

  const noMemory = judgeCgroups({ version: 2, controllers: "cpu io pids", notWritable: undefined });
  assert.equal(noMemory.status, "fail");
  assert.match(noMemory.detail, /without the memory controller/);
  assert.match(noMemory.fix!, /CONFIG_MEMCG/);

  // A container whose cgroup namespace delegated nothing.
  const empty = judgeCgroups({ version: 2, controllers: "", notWritable: undefined });
  assert.match(empty.detail, /memory, pids, cpu controllers \(root offers: none\)/);

  const readOnly = judgeCgroups({ version: 2, controllers: "cpu memory pids", notWritable: "EROFS: read-only file system" });
  assert.equal(readOnly.status, "fail");
  assert.match(readOnly.detail, /EROFS/);
});

test("cgroup v1: one hierarchy per controller, writable", () => {
  const mounts = new Map([
    ["memory", "/sys/fs/cgroup/memory"],
    ["pids", "/sys/fs/cgroup/pids"],
    ["cpu", "/sys/fs/cgroup/cpu,cpuacct"],
    ["cpuacct", "/sys/fs/cgroup/cpu,cpuacct"],
  ]);
  assert.deepEqual(judgeCgroups({ version: 1, mounts, hybrid: true, notWritable: new Map() }), {
    status: "ok",
    detail: "v1 (hybrid) with memory, pids, cpu, cpuacct",
  });

  const noPids = new Map(mounts);
  noPids.delete("pids");
  const v = judgeCgroups({ version: 1, mounts: noPids, hybrid: false, notWritable: new Map() });
  assert.equal(v.status, "fail");
  assert.match(v.detail, /without the pids hierarchy/);
  assert.match(v.fix!, /mount -t cgroup -o pids cgroup \/sys\/fs\/cgroup\/pids/);

  const ro = judgeCgroups({ version: 1, mounts, hybrid: false, notWritable: new Map([["/sys/fs/cgroup/memory", "EROFS: read-only file system"]]) });
  assert.equal(ro.status, "fail");
  assert.match(ro.detail, /\/sys\/fs\/cgroup\/memory is not writable/);
});
