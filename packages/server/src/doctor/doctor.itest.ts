/**
 * `atoll doctor` on this host: exit 0, every check answered, fast; and on hosts that lack
 * something (made in a private mount namespace, the host itself is untouched): a read-only
 * state directory, a full one, bubblewrap not installed — each prints ✘ with its fix and exits 1.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { findTool } from "../host/find-tool.js";
import { HOST_PATH } from "../host/run-command.js";
import { full, hideTool, readOnly, runAtollBroken, testWorkDir } from "../testing/broken-host.js";
import type { CheckResult } from "./check-types.js";
import type { DoctorReport } from "./doctor.js";

const { work, stateDir } = testWorkDir("atoll-doctor-test-");

/** The report's line for one check (titles as printed). */
function line(stdout: string, title: string): string {
  const found = stdout.split("\n").find((l) => l.slice(2).startsWith(`${title} `));
  assert.ok(found, `no line for ${title} in:\n${stdout}`);
  return found;
}

test("atoll doctor on this host: exit 0, every check answers, in well under two seconds", async () => {
  const dir = stateDir();
  const r = await runAtollBroken([], ["doctor", "--state-dir", dir, "--listen", "127.0.0.1:0"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /✔ this host can run the Atoll daemon/);
  for (const title of [
    "user namespaces",
    "overlayfs",
    "loop devices",
    "seccomp",
    "cgroups",
    "bubblewrap",
    "nftables",
    "test sandbox",
    "native helpers",
    "state directory",
    "free disk",
  ]) {
    assert.match(line(r.stdout, title), /^✔ /, title);
  }
  assert.doesNotMatch(r.stdout, /^✘/m);

  const json = await runAtollBroken([], ["doctor", "--state-dir", dir, "--listen", "127.0.0.1:0", "--json"]);
  assert.equal(json.code, 0);
  const report = JSON.parse(json.stdout) as DoctorReport;
  assert.equal(report.ok, true);
  assert.ok(report.checks.length >= 20);
  assert.ok(report.checks.every((c: CheckResult) => ["ok", "warn", "skip"].includes(c.status) && c.detail.length > 0));
  console.log(`doctor checks took ${report.durationMs} ms`); // printed, not asserted (timing)
  assert.ok(report.durationMs < 10_000, "every probe has a 5 s deadline");
});

test("a state directory on a read-only filesystem: ✘ with the remount fix, exit 1", async () => {
  const dir = stateDir();
  const r = await runAtollBroken([readOnly(dir)], ["doctor", "--state-dir", dir, "--listen", "127.0.0.1:0"]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(line(r.stdout, "state directory"), /^✘ .*EROFS.* → fix: remount that filesystem read-write/);
  assert.match(r.stdout, /✘ the daemon cannot run on this host/);
});

test("a state directory on a full filesystem: ✘ free disk with its fix, exit 1", async () => {
  const dir = stateDir();
  const r = await runAtollBroken([full(dir)], ["doctor", "--state-dir", dir, "--listen", "127.0.0.1:0"]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(line(r.stdout, "free disk"), /^✘ free disk\s+the filesystem of .* is full \([^)]* free\) → fix: free space there/);
  assert.match(line(r.stdout, "state directory"), /^✘ .*ENOSPC/);
});

test("bubblewrap not installed: ✘ with apt-get install bubblewrap, the test sandbox skipped, exit 1", async () => {
  const bwrap = findTool("bwrap", HOST_PATH);
  assert.ok(bwrap, "bubblewrap is installed on this host");
  const r = await runAtollBroken([hideTool(bwrap, work)], ["doctor", "--state-dir", stateDir(), "--listen", "127.0.0.1:0"]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(line(r.stdout, "bubblewrap"), /^✘ bubblewrap\s+bwrap is not installed → fix: apt-get install bubblewrap$/);
  assert.match(line(r.stdout, "test sandbox"), /^- test sandbox\s+cannot test: bubblewrap is not installed$/);
  // Only what is missing fails.
  assert.equal(r.stdout.split("\n").filter((l) => l.startsWith("✘ ") && !l.startsWith("✘ the daemon")).length, 1, r.stdout);
});

test("with --network off, nftables and iproute2 are not needed", async () => {
  const nft = findTool("nft", HOST_PATH);
  assert.ok(nft, "nftables is installed on this host");
  const off = await runAtollBroken([hideTool(nft, work)], ["doctor", "--state-dir", stateDir(), "--listen", "127.0.0.1:0", "--network", "off"]);
  assert.equal(off.code, 0, off.stdout);
  assert.match(line(off.stdout, "nftables"), /^- nftables\s+not needed with --network off$/);
  const on = await runAtollBroken([hideTool(nft, work)], ["doctor", "--state-dir", stateDir(), "--listen", "127.0.0.1:0"]);
  assert.equal(on.code, 1, on.stdout);
  assert.match(line(on.stdout, "nftables"), /^✘ nftables\s+nft is not installed → fix: apt-get install nftables$/);
});
