/**
 * `atoll serve` start-up failures are one line on stderr naming what is missing and its fix,
 * exit 1, no stack trace, nothing left on the host: a port already bound, a state directory on
 * a read-only bind mount, a host tool not installed, a sandbox id range the host gave away. And
 * with nothing wrong, the ready banner. The breakage lives in a private mount namespace of the
 * daemon process (testing/broken-host.ts); the host is untouched.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { findTool } from "../host/find-tool.js";
import { HOST_PATH } from "../host/run-command.js";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import { hideTool, readOnly, runAtollBroken, testWorkDir } from "../testing/broken-host.js";
import type { CliRun } from "../testing/cli-runner.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const { work, stateDir } = testWorkDir("atoll-serve-startup-");

/** A test daemon's flags: nothing leaves this machine. */
const serveArgs = (dir: string, listen = "127.0.0.1:0") => ["serve", "--state-dir", dir, "--listen", listen, "--uplink", "none", "--dns", "none"];

/** Exit 1 and exactly one line on stderr: `atoll serve: WHAT → fix: HOW`, no stack trace. */
function assertOneLineFailure(r: CliRun, pattern: RegExp): string {
  assert.equal(r.code, 1, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  const line = lines[0]!;
  assert.match(line, /^atoll serve: .+ → fix: .+/);
  assert.match(line, pattern);
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, "no stack trace");
  return line;
}

test("nothing wrong: the ready banner on stderr, then a clean stop", async () => {
  const dir = stateDir();
  const child = spawn(process.execPath, [MAIN, ...serveArgs(dir)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (/Atoll is ready: http:\/\/127\.0\.0\.1:\d+\n {2}dashboard: .+\n {2}API token: .+\/token\n/.test(stderr)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code} before the banner:\n${stderr}`)));
  });
  await ready;
  const exited = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(`${code ?? signal}`)));
  child.kill("SIGTERM");
  assert.equal(await exited, "0", `a clean stop; stderr:\n${stderr.slice(-2000)}`);
  assert.deepEqual(machineLeftovers(dir), []);
});

test("the port is already bound: one line naming the address and --listen; what had started is undone", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  after(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const dir = stateDir();
  const r = await runAtollBroken([], serveArgs(dir, `127.0.0.1:${port}`));
  assertOneLineFailure(r, new RegExp(`127\\.0\\.0\\.1:${port} is already in use .* --listen HOST:PORT`));
  // The daemon got as far as its network router, warm scratch filesystems and launchers.
  assert.deepEqual(machineLeftovers(dir), []);
});

test("the state directory is on a read-only bind mount: one line saying so", async () => {
  const dir = stateDir();
  assertOneLineFailure(
    await runAtollBroken([readOnly(dir)], serveArgs(dir)),
    /state directory: cannot write .*EROFS.* → fix: remount that filesystem read-write/,
  );
});

test("a host tool is not installed: one line with the package to install", async () => {
  const bwrap = findTool("bwrap", HOST_PATH);
  const nft = findTool("nft", HOST_PATH);
  assert.ok(bwrap && nft, "bubblewrap and nftables are installed on this host");
  assertOneLineFailure(
    await runAtollBroken([hideTool(bwrap, work)], serveArgs(stateDir())),
    /^atoll serve: bubblewrap: bwrap is not installed → fix: apt-get install bubblewrap$/,
  );
  assertOneLineFailure(
    await runAtollBroken([hideTool(nft, work)], serveArgs(stateDir())),
    /^atoll serve: nftables: nft is not installed → fix: apt-get install nftables$/,
  );
  // Both missing: the first in full, the other named.
  assertOneLineFailure(
    await runAtollBroken([hideTool(bwrap, work), hideTool(nft, work)], serveArgs(stateDir())),
    /apt-get install bubblewrap \(and nftables: run atoll doctor for every fix\)$/,
  );
});

test("the host gave the sandbox id range to a user: one line naming the holder and the free base", async () => {
  const etc = mkdtempSync(join(work, "etc-"));
  writeFileSync(join(etc, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  writeFileSync(join(etc, "group"), "root:x:0:\n");
  for (const f of ["subuid", "subgid"]) writeFileSync(join(etc, f), `alice:${DEFAULT_UID_BASE}:65536\n`);
  const r = await runAtollBroken([], serveArgs(stateDir()), { ...process.env, ATOLL_ETC_DIR: etc });
  assertOneLineFailure(
    r,
    /^atoll serve: Atoll's sandbox id range .* overlaps ids this host gave others: .*subuid gives alice .* → fix: set ATOLL_UID_BASE=\d+/,
  );
});
