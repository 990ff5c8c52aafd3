/**
 * The loop-device backend keeps the StorageDriver contract (testing/contracts/storage-contract.ts),
 * the same suite the in-memory fake of the unit tier passes. Root: losetup, mkfs.ext4, mount.
 */
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { ensurePrivateMount, umountTree } from "../host/mounts.js";
import { storageContract } from "../testing/contracts/storage-contract.js";
import { LoopVolumeBackend } from "./loop-volume-backend.js";
import { execFileRunner as runner } from "../host/run-command.js";

storageContract("loop-device ext4 backend", async () => {
  const base = await mkdtemp("/var/tmp/atoll-storage-contract-");
  const stateDir = path.join(base, "state");
  const runDir = path.join(stateDir, "run");
  await ensurePrivateMount(runner, runDir);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return {
    driver: new LoopVolumeBackend({ stateDir, runDir, uidBase: 100000, runner, logger: quiet }),
    async writeFile(source, relPath, data) {
      const handle = await open(path.join(source, relPath), "w");
      try {
        await handle.write(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    readFile: (source, relPath) => readFile(path.join(source, relPath)).catch(() => undefined),
    async dispose() {
      await umountTree(runner, base);
      await rm(base, { recursive: true, force: true });
    },
  };
});
