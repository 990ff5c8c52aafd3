/**
 * atoll-idshift on a real tree (needs root: it chowns): owners and groups of the old range move,
 * others stay; setuid/setgid bits, a namespaced (v3) file capability's root id and POSIX ACL
 * entries move with them; hard links and symlinks are handled once and not followed; a second
 * run changes nothing (how an interrupted move is finished); a mount below is not entered.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { shiftIds } from "./id-shift.js";
import { execFileRunner as runner } from "./run-command.js";

const NATIVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../native/build");
const FROM = 100000;
const TO = 0x70000000;
const PYTHON = "/usr/bin/python3";

function aclEntries(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 4; off + 8 <= buf.length; off += 8) out.push([buf.readUInt16LE(off), buf.readUInt32LE(off + 4)]);
  return out;
}

function acl(entries: [tag: number, perm: number, id: number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}

test("atoll-idshift moves owners, setuid bits, capabilities and ACLs of one range, once, and stays on its filesystem", async (t) => {
  await runner.run("make", ["-s", "-C", path.dirname(NATIVE)]);
  const root = mkdtempSync(path.join(tmpdir(), "atoll-idshift-"));
  const tree = path.join(root, "tree");
  const mnt = path.join(tree, "mnt");
  t.after(() => {
    execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  });
  mkdirSync(mnt, { recursive: true });
  const f = (p: string) => path.join(tree, p);
  writeFileSync(f("app.txt"), "x");
  chownSync(f("app.txt"), FROM + 1000, FROM + 1000);
  linkSync(f("app.txt"), f("hard"));
  symlinkSync("/etc/passwd", f("link")); // must not be followed
  lchownSync(f("link"), FROM, FROM);
  writeFileSync(f("suid"), "x");
  chownSync(f("suid"), FROM, FROM + 42);
  chmodSync(f("suid"), 0o6755);
  writeFileSync(f("hostroot"), "x"); // owned by host root: outside the range, left alone
  writeFileSync(f("capped"), "x");
  chownSync(f("capped"), FROM, FROM);
  execFileSync("setcap", ["-n", String(FROM), "cap_net_bind_service+ep", f("capped")]);
  writeFileSync(f("acl"), "x");
  chownSync(f("acl"), FROM, FROM);
  execFileSync(PYTHON, [
    "-c",
    `import os,sys; os.setxattr(sys.argv[1], "system.posix_acl_access", bytes.fromhex(sys.argv[2]))`,
    f("acl"),
    acl([
      [1, 6, 0xffffffff],
      [2, 6, FROM + 1001],
      [2, 4, 7],
      [4, 4, 0xffffffff],
      [8, 4, FROM + 1002],
      [0x10, 6, 0xffffffff],
      [0x20, 4, 0xffffffff],
    ]).toString("hex"),
  ]);
  chownSync(tree, FROM, FROM);
  execFileSync("mount", ["-t", "tmpfs", "-o", `uid=${FROM},gid=${FROM}`, "none", mnt]);
  writeFileSync(path.join(mnt, "below"), "x");
  chownSync(path.join(mnt, "below"), FROM, FROM);

  const first = await shiftIds(runner, tree, FROM, TO, NATIVE);
  const own = (p: string) => [lstatSync(f(p)).uid, lstatSync(f(p)).gid];
  assert.deepEqual(own(""), [TO, TO]);
  assert.deepEqual(own("app.txt"), [TO + 1000, TO + 1000]);
  assert.deepEqual(own("link"), [TO, TO]);
  assert.equal(lstatSync("/etc/passwd").uid, 0, "the symlink's target is untouched");
  assert.deepEqual(own("suid"), [TO, TO + 42]);
  assert.equal(lstatSync(f("suid")).mode & 0o7777, 0o6755, "setuid and setgid bits kept");
  assert.deepEqual(own("hostroot"), [0, 0]);
  assert.match(execFileSync("getcap", ["-n", f("capped")], { encoding: "utf8" }), new RegExp(`cap_net_bind_service=ep \\[rootid=${TO}\\]`));
  assert.deepEqual(
    aclEntries(getxattrSync(f("acl"))).filter(([tag]) => tag === 2 || tag === 8),
    [
      [2, TO + 1001],
      [2, 7],
      [8, TO + 1002],
    ],
  );
  assert.deepEqual([lstatSync(path.join(mnt, "below")).uid, lstatSync(mnt).uid], [FROM, FROM], "a mount below is another filesystem: not entered, not changed");

  const again = await shiftIds(runner, tree, FROM, TO, NATIVE);
  assert.equal(again.moved, 0, "a second run finds nothing left to move");
  assert.equal(again.entries, first.entries);
  await assert.rejects(shiftIds(runner, tree, FROM, FROM + 1000, NATIVE), /overlap/);
});

/** The raw POSIX access ACL of `p` (Node has no xattr API). */
function getxattrSync(p: string): Buffer {
  const hex = execFileSync(PYTHON, ["-c", `import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], "system.posix_acl_access").hex())`, p], {
    encoding: "utf8",
  });
  return Buffer.from(hex, "hex");
}
