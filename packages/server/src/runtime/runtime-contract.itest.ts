/**
 * The bubblewrap runtime keeps the RuntimeDriver contract (testing/contracts/runtime-contract.ts),
 * the same suite the in-memory fake of the unit tier passes. Root: bwrap, cgroups, overlay roots.
 */
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { umount } from "../host/mounts.js";
import { runtimeContract } from "../testing/contracts/runtime-contract.js";
import { detectCgroups } from "./cgroups.js";
import { TEST_UID_BASE, unpooledRuntime } from "./runtime-test-helpers.js";
import { buildTestRootfs } from "./test-rootfs.js";
import { execFileRunner as runner } from "../host/run-command.js";

const UID_BASE = TEST_UID_BASE;
const CGROUP_PARENT = `atoll-contract-${process.pid}`;

runtimeContract("bubblewrap", async () => {
  const work = await mkdtemp(path.join(tmpdir(), "atoll-rt-contract-"));
  await chmod(work, 0o755); // sandbox root (an unprivileged host uid) must reach the roots below
  const stateDir = path.join(work, "state");
  const runDir = path.join(stateDir, "run");
  const rootfs = await buildTestRootfs(work, UID_BASE);
  const driver = unpooledRuntime(stateDir, CGROUP_PARENT);
  let sources = 0;
  return {
    driver,
    spec: (id, mounts) => ({ id, imageRootfs: rootfs, limits: { memoryBytes: 256 * 2 ** 20, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 }, mounts }),
    async makeSource(files) {
      const dir = await mkdtemp(path.join(work, `source-${sources++}-`));
      await chmod(dir, 0o755);
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
      await chown(dir, UID_BASE + 1000, UID_BASE + 1000);
      return dir;
    },
    async dispose() {
      try {
        await driver.cleanupOrphans(new Set());
        await driver.close();
        await (await detectCgroups({ parent: CGROUP_PARENT })).removeParent();
      } finally {
        await umount(runner, runDir, { lazy: true }).catch(() => undefined);
        await rm(work, { recursive: true, force: true });
      }
    },
  };
});
