import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCommand } from "../host/run-command.js";
import { mountsUnder, removeTreeSafely } from "./safe-remove.js";

test("mountsUnder lists mount points below a directory, deepest first, unescaping spaces", () => {
  const info = [
    "22 1 8:1 / / rw - ext4 /dev/vda rw",
    "30 22 0:5 / /x/build/rootfs/proc rw - proc proc rw",
    "31 22 0:6 / /x/build/rootfs/dev/pts rw - devpts devpts rw",
    "32 22 0:7 / /x/build-other rw - tmpfs tmpfs rw",
    "33 22 0:8 / /x/build/with\\040space rw - tmpfs tmpfs rw",
  ].join("\n");
  assert.deepEqual(mountsUnder("/x/build", info), ["/x/build/rootfs/dev/pts", "/x/build/rootfs/proc", "/x/build/with space"]);
});

test("removeTreeSafely unmounts what is mounted inside before deleting", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "atoll-saferm-test-"));
  const keep = mkdtempSync(join(tmpdir(), "atoll-saferm-keep-"));
  const inner = join(dir, "rootfs/mnt");
  t.after(async () => {
    for (const p of mountsUnder(dir)) await runCommand("umount", ["--lazy", p]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    rmSync(keep, { recursive: true, force: true });
  });
  writeFileSync(join(keep, "precious"), "do not delete");
  mkdirSync(inner, { recursive: true });
  // A bind of a directory that must survive, like a /dev left bound by a killed bootstrap.
  await runCommand("mount", ["--bind", keep, inner]);
  assert.equal(mountsUnder(dir).length, 1);
  await removeTreeSafely(dir);
  assert.equal(existsSync(dir), false);
  assert.equal(readFileSync(join(keep, "precious"), "utf8"), "do not delete");
  assert.equal(mountsUnder(dir).length, 0);
});
