/**
 * The bubblewrap files driver keeps the FilesDriver contract (testing/contracts/files-contract.ts),
 * the same suite the in-memory fake of the unit tier passes: the real atoll-fs in a volume jail.
 * Root: atoll-launch, bwrap, mounts (a small tmpfs for a full volume, a read-only bind).
 */
import { chmod, chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bindMount, ensurePrivateMount, mount, umountTree } from "../host/mounts.js";
import { execFileRunner } from "../host/run-command.js";
import { filesContract } from "../testing/contracts/files-contract.js";
import { BwrapFilesDriver } from "./bwrap-files-driver.js";

const UID_BASE = 100000;
const APP = UID_BASE + 1000;
const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build");

filesContract("bubblewrap", async () => {
  const base = await mkdtemp("/var/tmp/atoll-files-contract-");
  await chmod(base, 0o755);
  await ensurePrivateMount(execFileRunner, base);
  let n = 0;
  return {
    driver: new BwrapFilesDriver({ nativeDir: NATIVE, uidBase: UID_BASE }),
    async newVolume(spec = {}) {
      const dir = path.join(base, `vol-${n++}`);
      await mkdir(dir);
      if (spec.capacityBytes !== undefined) {
        await mount(execFileRunner, "tmpfs", "atoll-files-contract", dir, [`size=${spec.capacityBytes}`, `uid=${APP}`, `gid=${APP}`, "mode=0755"]);
      } else {
        await chown(dir, APP, APP);
      }
      if (spec.readOnly) await bindMount(execFileRunner, dir, dir, { readOnly: true });
      return dir;
    },
    async dispose() {
      await umountTree(execFileRunner, base);
      await rm(base, { recursive: true, force: true });
    },
  };
});
