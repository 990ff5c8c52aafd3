/**
 * Through the SDK and a real daemon: a sandbox sees its own memory in `free` and /proc/meminfo
 * and its own limits under /sys/fs/cgroup (issue 11, item 4), and a stopped daemon leaves no
 * lxcfs, mount or cgroup behind. The details (Node inside, locked mounts, a flood, an lxcfs
 * restart) are in runtime/proc-view.itest.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { Client } from "atoll";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { startTestDaemon } from "../testing/daemon-harness.js";

test("sandboxes created through the API see their own memory and limits; a stopped daemon leaves no lxcfs", async (t) => {
  const daemon = await startTestDaemon();
  t.after(() => daemon.dispose());
  const client = new Client({ url: daemon.url, token: daemon.token });
  const lxcfsPid = Number.parseInt(readFileSync(path.join(daemon.stateDir, "run/lxcfs.pid"), "utf8"), 10);
  assert.ok(lxcfsPid > 0, "the daemon started its lxcfs");

  const small = await client.createSandbox({ timeout: "5m", memory: "512MiB" });
  const big = await client.createSandbox({ timeout: "5m", memory: "1GiB" });
  // cgroup v1 names the file memory.limit_in_bytes under memory/, v2 memory.max.
  const limitFile = "f=/sys/fs/cgroup/memory/memory.limit_in_bytes; [ -e $f ] || f=/sys/fs/cgroup/memory.max";
  for (const [sb, mib] of [
    [small, 512],
    [big, 1024],
  ] as const) {
    assert.match((await sb.sh`free -m`.text()).trimEnd(), new RegExp(`^Mem:\\s+${mib}\\s`, "m"));
    const limit = await sb.sh`sh -c ${`${limitFile}; cat $f`}`.text();
    assert.equal(limit.trim(), String(mib * 2 ** 20));
  }
  // `.sudo()` is sandbox root: it cannot raise its own limit.
  const raise = await small.sh`sh -c ${`${limitFile}; echo 2147483648 > $f`}`.sudo().noThrow();
  assert.notEqual(raise.status.code, 0);
  assert.match((await small.sh`free -m`.text()).trimEnd(), /^Mem:\s+512\s/m);
  await Promise.all([small.kill(), big.kill()]);

  assert.equal(await daemon.stop(), 0);
  assert.deepEqual(machineLeftovers(daemon.stateDir), []);
  assert.throws(() => process.kill(lxcfsPid, 0), /ESRCH/, "lxcfs ended with the daemon");
});
