import assert from "node:assert/strict";
import { test } from "node:test";
import type { CheckResult } from "./check-types.js";
import { failureLine, formatCheck, formatReport } from "./doctor-report.js";

const bwrap: CheckResult = { id: "bwrap", title: "bubblewrap", status: "fail", detail: "bwrap is not installed", fix: "apt-get install bubblewrap" };
const nft: CheckResult = { id: "nftables", title: "nftables", status: "fail", detail: "nft is not installed", fix: "apt-get install nftables" };
const disk: CheckResult = { id: "disk", title: "free disk", status: "warn", detail: "low", fix: "free space" };
const root: CheckResult = { id: "root", title: "root", status: "ok", detail: "running as root" };

test("one line per check: the mark, the title, the finding and the fix for ✘ and ⚠", () => {
  assert.equal(formatCheck(bwrap, 12), "✘ bubblewrap   bwrap is not installed → fix: apt-get install bubblewrap");
  assert.equal(formatCheck(disk, 12), "⚠ free disk    low → fix: free space");
  assert.equal(formatCheck(root, 4), "✔ root running as root");
});

test("the report ends with the verdict; warnings alone still say the daemon can run", () => {
  const bad = formatReport({ ok: false, checks: [root, bwrap, disk], durationMs: 12 }, "here").split("\n");
  assert.equal(bad[0], "atoll doctor: here");
  assert.equal(bad.length, 6);
  assert.match(bad[4]!, /^✘ the daemon cannot run on this host.*1 ok, 1 warning, 1 failed \(12 ms\)$/);
  const fine = formatReport({ ok: true, checks: [root, disk], durationMs: 3 }, "here");
  assert.match(fine, /✔ this host can run the Atoll daemon \(see the ⚠ lines\)/);
});

test("the daemon's one line: the first failure in full, the others by name", () => {
  assert.equal(failureLine([bwrap]), "bubblewrap: bwrap is not installed → fix: apt-get install bubblewrap");
  const two = failureLine([bwrap, nft]);
  assert.equal(two, "bubblewrap: bwrap is not installed → fix: apt-get install bubblewrap (and nftables: run atoll doctor for every fix)");
  assert.doesNotMatch(two, /\n/);
});
