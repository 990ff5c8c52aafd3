import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProbeRun } from "./host-probes.js";
import { judgeBackupTools, judgeBwrap, judgeIproute, judgeLaunch, judgeLxcfs, judgeNft, judgePackageTools, parseVersion } from "./tool-checks.js";

const said = (stdout: string, stderr = ""): ProbeRun => ({ ok: true, stdout, stderr });
const failed = (error: string): ProbeRun => ({ ok: false, error, stdout: "", stderr: error });

test("parseVersion finds the first version number", () => {
  assert.deepEqual(parseVersion("bubblewrap 0.8.0\n"), [0, 8, 0]);
  assert.deepEqual(parseVersion("nftables v1.0.6 (Lester Gooch #5)"), [1, 0, 6]);
  assert.deepEqual(parseVersion("x 2.1"), [2, 1, 0]);
  assert.equal(parseVersion("no digits"), undefined);
});

test("bubblewrap: missing means apt-get install bubblewrap; too old names the minimum", () => {
  assert.deepEqual(judgeBwrap(said("bubblewrap 0.8.0\n")), { status: "ok", detail: "bubblewrap 0.8.0" });
  const missing = judgeBwrap(failed("not found"));
  assert.equal(missing.status, "fail");
  assert.equal(missing.detail, "bwrap is not installed");
  assert.equal(missing.fix, "apt-get install bubblewrap");
  const old = judgeBwrap(said("bubblewrap 0.3.3\n"));
  assert.equal(old.status, "fail");
  assert.match(old.detail, /0\.3\.3 is older than 0\.4\.0/);
  assert.equal(judgeBwrap(said("garbage")).status, "fail");
});

test("nftables: skipped with networks off; installed but refused by the kernel names the module", () => {
  assert.equal(judgeNft().status, "skip");
  assert.deepEqual(judgeNft(said("nftables v1.0.6 (Lester Gooch #5)\n"), said("")), {
    status: "ok",
    detail: "nftables v1.0.6, the kernel's nf_tables answers",
  });
  assert.equal(judgeNft(failed("not found"), failed("not found")).fix, "apt-get install nftables");
  const refused = judgeNft(said("nftables v1.0.6\n"), failed("Error: Could not process rule: Operation not supported"));
  assert.equal(refused.status, "fail");
  assert.match(refused.fix!, /modprobe nf_tables/);
});

test("iproute2: skipped with networks off, else its version", () => {
  assert.equal(judgeIproute().status, "skip");
  assert.equal(judgeIproute(said("ip utility, iproute2-6.1.0, libbpf 1.1.2\n")).detail, "iproute2 6.1.0");
  assert.equal(judgeIproute(failed("not found")).fix, "apt-get install iproute2");
});

test("package tools: every tool must be there", () => {
  assert.deepEqual(judgePackageTools("e2fsprogs", [], said("", "mke2fs 1.47.0 (5-Feb-2023)\n"), /mke2fs ([\d.]+)/), {
    status: "ok",
    detail: "e2fsprogs 1.47.0",
  });
  const v = judgePackageTools("e2fsprogs", ["mkfs.ext4", "e2fsck"], failed("skipped"), /x/);
  assert.equal(v.status, "fail");
  assert.equal(v.detail, "mkfs.ext4, e2fsck not found");
  assert.equal(v.fix, "apt-get install e2fsprogs");
});

test("test sandbox: skipped when a part is missing; a failure names the AppArmor sysctl when it is set", () => {
  assert.equal(judgeLaunch(said(""), undefined, undefined).status, "ok");
  assert.equal(judgeLaunch(undefined, "bubblewrap is not installed", undefined).status, "skip");
  const ubuntu = judgeLaunch(failed("bwrap: setting up uid map: Permission denied"), undefined, 1);
  assert.equal(ubuntu.status, "fail");
  assert.match(ubuntu.detail, /setting up uid map/);
  assert.match(ubuntu.fix!, /sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0/);
  assert.doesNotMatch(judgeLaunch(failed("x"), undefined, undefined).fix!, /apparmor/);
});

test("lxcfs: missing or without FUSE is a warning (sandboxes see the host's /proc figures), never a failure", () => {
  assert.deepEqual(judgeLxcfs(said('"5.0.3"\n'), true), { status: "ok", detail: "lxcfs 5.0.3, /dev/fuse" });
  const missing = judgeLxcfs(failed("not found"), true);
  assert.equal(missing.status, "warn");
  assert.equal(missing.fix, "apt-get install lxcfs");
  const noFuse = judgeLxcfs(said("5.0.3"), false);
  assert.equal(noFuse.status, "warn");
  assert.match(noFuse.fix!, /modprobe fuse/);
});

test("volume archives: tar or zstd missing is a warning (only export and import fail), never a failure", () => {
  assert.deepEqual(judgeBackupTools([]), { status: "ok", detail: "tar, zstd" });
  const missing = judgeBackupTools(["zstd"]);
  assert.equal(missing.status, "warn");
  assert.match(missing.detail, /zstd not found/);
  assert.equal(missing.fix, "apt-get install tar zstd");
});
