import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { execFileRunner as runner } from "../host/run-command.js";
import { mountsUnder as mountEntriesUnder, readMountInfo } from "../host/mounts.js";
import { removeTreeSafely } from "./safe-remove.js";

/** Mount points at or below `dir` right now. */
const mountsUnder = async (dir: string) => mountEntriesUnder(await readMountInfo(), dir).map((e) => e.mountPoint);

test("removeTreeSafely unmounts what is mounted inside before deleting", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-saferm-test-"));
  const keep = mkdtempSync(join(tmpdir(), "atoll-saferm-keep-"));
  const inner = join(dir, "rootfs/mnt");
  t.after(async () => {
    for (const p of await mountsUnder(dir)) await runner.run("umount", ["--lazy", p]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    rmSync(keep, { recursive: true, force: true });
  });
  writeFileSync(join(keep, "precious"), "do not delete");
  mkdirSync(inner, { recursive: true });
  // A bind of a directory that must survive, like a /dev left bound by a killed bootstrap.
  await runner.run("mount", ["--bind", keep, inner]);
  assert.equal((await mountsUnder(dir)).length, 1);
  await removeTreeSafely(dir);
  assert.equal(existsSync(dir), false);
  assert.equal(readFileSync(join(keep, "precious"), "utf8"), "do not delete");
  assert.equal((await mountsUnder(dir)).length, 0);
});
