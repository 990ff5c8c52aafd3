import assert from "node:assert/strict";
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { execFileRunner as runner } from "../host/run-command.js";
import { findExecutable } from "./bootstrap-runner.js";
import { shiftTreeOwners, treeStats } from "./uid-shift.js";

function makeTree(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), "atoll-uidshift-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "home/app"), { recursive: true });
  chownSync(join(root, "home/app"), 1000, 1000);
  writeFileSync(join(root, "su"), "x".repeat(5000));
  chmodSync(join(root, "su"), 0o4755);
  writeFileSync(join(root, "chage"), "x");
  chownSync(join(root, "chage"), 0, 42);
  chmodSync(join(root, "chage"), 0o2755);
  writeFileSync(join(root, "home/app/a"), "a");
  chownSync(join(root, "home/app/a"), 1000, 1000);
  linkSync(join(root, "home/app/a"), join(root, "home/app/b"));
  symlinkSync("/nonexistent/target", join(root, "dangling"));
  mkdirSync(join(root, "tmp"));
  chmodSync(join(root, "tmp"), 0o1777);
  return root;
}

test("shiftTreeOwners shifts every owner once and keeps setuid, setgid and sticky bits", async (t) => {
  const root = makeTree(t);
  const stats = await shiftTreeOwners(runner, root, 100000);
  const owner = (p: string): string => {
    const st = lstatSync(join(root, p));
    return `${st.uid}:${st.gid}`;
  };
  assert.equal(owner(""), "100000:100000");
  assert.equal(owner("home/app"), "101000:101000");
  assert.equal(owner("home/app/a"), "101000:101000", "a hard-linked file is shifted once, not twice");
  assert.equal(owner("dangling"), "100000:100000", "symlinks themselves are chowned");
  assert.equal(owner("chage"), "100000:100042");
  assert.equal(lstatSync(join(root, "su")).mode & 0o7777, 0o4755);
  assert.equal(lstatSync(join(root, "chage")).mode & 0o7777, 0o2755);
  assert.equal(lstatSync(join(root, "tmp")).mode & 0o7777, 0o1777);
  assert.equal(stats.inodes, 8); // root, home, home/app, su, chage, a(=b), dangling, tmp
  assert.ok(stats.diskBytes >= 4096);
  assert.deepEqual(treeStats(root), { inodes: stats.inodes, diskBytes: stats.diskBytes });
});

test("shiftTreeOwners refuses a tree that was shifted already", async (t) => {
  const root = makeTree(t);
  await shiftTreeOwners(runner, root, 100000);
  await assert.rejects(shiftTreeOwners(runner, root, 100000), /outside 0\.\.65535/);
});

test("shiftTreeOwners re-applies file capabilities that chown dropped", { skip: !findExecutable("setcap") && "setcap not installed" }, async (t) => {
  const root = makeTree(t);
  const ping = join(root, "ping");
  writeFileSync(ping, "x");
  await runner.run("setcap", ["cap_net_raw=ep", ping]);
  const result = await shiftTreeOwners(runner, root, 100000);
  assert.equal(result.capabilitiesRestored, 1);
  const { stdout } = await runner.run("getcap", [ping]);
  assert.match(stdout, /cap_net_raw[=+]ep/);
  assert.equal(lstatSync(ping).uid, 100000);
});

test("shiftTreeOwners rejects a base that would overflow the uid space", async (t) => {
  const root = makeTree(t);
  await assert.rejects(shiftTreeOwners(runner, root, -1), /invalid uid base/);
  await assert.rejects(shiftTreeOwners(runner, root, 0xffff_ffff), /invalid uid base/);
});
