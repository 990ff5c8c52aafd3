/**
 * atoll-mount against real mounts (root): safe resolution of mount points, flags, unbind.
 * Run: `node --test packages/server/dist/runtime/atoll-mount.itest.js`
 */
import assert from "node:assert/strict";
import { chown, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { mountsUnder, readMountInfo, umountTree } from "../host/mounts.js";
import { HostCommandError, execFileRunner as runner } from "../host/run-command.js";

const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build");
const ATOLL_MOUNT = path.join(NATIVE, "atoll-mount");

async function atollMount(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    if (process.env.ATOLL_MOUNT_CLASSIC === "1") await runner.run("env", ["ATOLL_MOUNT_CLASSIC=1", ATOLL_MOUNT, ...args]);
    else await runner.run(ATOLL_MOUNT, args);
    return { code: 0, stderr: "" };
  } catch (err) {
    if (err instanceof HostCommandError) return { code: err.exitCode ?? -1, stderr: err.stderr };
    throw err;
  }
}

for (const classic of [false, true])
  describe(`atoll-mount (${classic ? "classic mount(2) fallback" : "new mount API"})`, () => {
    let work: string;
    let root: string;
    let src: string;
    let outside: string;

    before(async () => {
      if (classic) process.env.ATOLL_MOUNT_CLASSIC = "1";
      else delete process.env.ATOLL_MOUNT_CLASSIC;
      await runner.run("make", ["-s", "-C", path.dirname(NATIVE)]);
      work = await mkdtemp(path.join(tmpdir(), "atoll-mount-"));
      root = path.join(work, "root");
      src = path.join(work, "src");
      outside = path.join(work, "outside");
      for (const d of [root, src, outside]) await mkdir(d);
      await chown(root, 100000, 100000);
      await writeFile(path.join(src, "file"), "data\n");
      await symlink(outside, path.join(root, "abs-link"));
      await symlink("../outside", path.join(root, "rel-link"));
      await writeFile(path.join(root, "regular"), "");
    });

    after(async () => {
      await umountTree(runner, work);
      await rm(work, { recursive: true, force: true });
    });

    it("binds read-write with nosuid,nodev, creating the mount point owned like its parent", async () => {
      assert.deepEqual(await atollMount("bind", src, root, "/a/b/rw"), { code: 0, stderr: "" });
      const entry = (await readMountInfo()).find((e) => e.mountPoint === path.join(root, "a/b/rw"));
      assert.ok(entry);
      assert.ok(
        entry.mountOptions.includes("rw") && entry.mountOptions.includes("nosuid") && entry.mountOptions.includes("nodev"),
        entry.mountOptions.join(","),
      );
      assert.equal((await stat(path.join(root, "a"))).uid, 100000);
      assert.equal((await stat(path.join(root, "a/b"))).mode & 0o777, 0o755);
      await writeFile(path.join(root, "a/b/rw/new"), "x");
      assert.equal((await stat(path.join(src, "new"))).size, 1);
    });

    it("binds read-only", async () => {
      assert.equal((await atollMount("bind", src, root, "ro", "ro")).code, 0);
      const entry = (await readMountInfo()).find((e) => e.mountPoint === path.join(root, "ro"));
      assert.ok(entry?.mountOptions.includes("ro"));
      await assert.rejects(writeFile(path.join(root, "ro/x"), "x"), { code: "EROFS" });
    });

    it("refuses symlinks, `..`, non-directories and the root itself with exit status 2", async () => {
      for (const target of ["/abs-link", "/abs-link/sub", "/rel-link/sub", "/a/../../outside", "/regular/x", "/"]) {
        const r = await atollMount("bind", src, root, target);
        assert.equal(r.code, 2, `${target}: ${r.stderr}`);
      }
      assert.match((await atollMount("bind", src, root, "/abs-link/x")).stderr, /mount point \/abs-link\/x is a symlink or escapes the sandbox/);
      assert.deepEqual(mountsUnder(await readMountInfo(), outside), []);
      assert.deepEqual(await readdir(outside), []);
    });

    it("fails with exit status 1 for a missing source", async () => {
      assert.equal((await atollMount("bind", path.join(work, "missing"), root, "/m")).code, 1);
    });

    it("unbinds, and reports what is not mounted", async () => {
      assert.equal((await atollMount("bind", src, root, "/u")).code, 0);
      assert.equal((await atollMount("unbind", root, "/u")).code, 0);
      assert.equal(
        (await readMountInfo()).some((e) => e.mountPoint === path.join(root, "u")),
        false,
      );
      const again = await atollMount("unbind", root, "/u");
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not a mount point/);
      assert.equal((await atollMount("unbind", root, "/abs-link")).code, 2);
      assert.equal((await atollMount("unbind", root, "/nope")).code, 2);
    });
  });
