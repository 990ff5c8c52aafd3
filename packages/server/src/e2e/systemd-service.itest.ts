/**
 * `atoll service install` on a real systemd (issues 13 and 17): the unit it writes starts the
 * daemon, logs to the journal, and keeps sandboxes through `systemctl restart` (an upgrade) and
 * through a crash that systemd restarts (Restart=on-failure); `atoll service uninstall` stops and
 * removes it. This host has no systemd, so it runs in `npm run test:vm`'s Debian guest, where
 * systemd is pid 1 (vm/smoke-suite.ts); elsewhere it is skipped, and in the guest it must run.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "atoll";
import { startTestDaemon } from "../testing/daemon-harness.js";
import { freePort } from "./e2e-helpers.js";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const systemdRunning = existsSync("/run/systemd/system");
const inGuest = process.env.ATOLL_VM_REPO !== undefined;

const atoll = (...args: string[]) => execFileSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
const systemctl = (...args: string[]) => spawnSync("systemctl", args, { encoding: "utf8" });
const mainPid = (unit: string) => Number(systemctl("show", unit, "-p", "MainPID", "--value").stdout.trim());

/** Polls until `check` is true (generous: node runs about 15× slower in the emulated guest). */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 180_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(250)) {
    if (await Promise.resolve(check()).catch(() => false)) return;
  }
  assert.fail(`timed out waiting for ${what}`);
}

const healthy = (url: string) => async () => (await fetch(`${url}/healthz`)).ok;

test("atoll service install runs the daemon under systemd; restart and a crash keep the sandbox running; uninstall removes it", {
  skip: !systemdRunning && !inGuest ? "systemd is not pid 1 here (npm run test:vm runs this in its guest)" : false,
  timeout: 900_000,
}, async () => {
  assert.ok(systemdRunning, "the test:vm guest runs systemd as pid 1");
  const stateDir = mkdtempSync("/var/tmp/atoll-svc-");
  const name = `atoll-test-${process.pid}`;
  const unit = `${name}.service`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  try {
    const out = atoll("service", "install", "--name", name, "--state-dir", stateDir, "--listen", `127.0.0.1:${port}`, "--env", "ATOLL_UPLINK=none");
    assert.match(out, new RegExp(`/etc/systemd/system/${unit}: written`));
    assert.match(out, /ran: systemctl enable --now/);
    assert.equal(systemctl("is-enabled", unit).stdout.trim(), "enabled");
    await waitFor("the service to answer", healthy(url));
    const firstPid = mainPid(unit);
    assert.ok(firstPid > 0);

    const client = new Client({ url, token: readFileSync(join(stateDir, "token"), "utf8").trim() });
    const sb = await client.createSandbox({ timeout: "20m" });
    await sb.sh`nohup sh -c 'while :; do date +%s >> /tmp/ticks; sleep 0.2; done' >/dev/null 2>&1 &`;
    const ticks = async () => Number((await sb.sh`wc -l < /tmp/ticks`.text()).trim());

    // An upgrade: systemctl restart. KillMode=process signals the daemon only; the sandbox stays.
    assert.equal(systemctl("restart", unit).status, 0);
    await waitFor("the restarted service", healthy(url));
    assert.notEqual(mainPid(unit), firstPid, "a new daemon process");
    const before = await ticks();
    await waitFor("the sandbox's writer to go on after the restart", async () => (await ticks()) > before);
    assert.equal((await sb.sh`echo same-sandbox`.text()).trim(), "same-sandbox");
    const journal = () => spawnSync("journalctl", ["-u", unit, "--no-pager", "-o", "cat"], { encoding: "utf8" }).stdout;
    await waitFor("the adoption line in the journal", () => /adopted 1 sandbox/.test(journal()), 60_000);

    // A crash: systemd starts it again (Restart=on-failure) and the sandbox is adopted again.
    const crashedPid = mainPid(unit);
    process.kill(crashedPid, "SIGKILL");
    await waitFor("systemd to restart the crashed daemon", async () => mainPid(unit) > 0 && mainPid(unit) !== crashedPid && (await healthy(url)()));
    const later = await ticks();
    await waitFor("the writer to go on after the crash", async () => (await ticks()) > later);
    assert.equal((await client.getSandbox(sb.id)).state, "running");

    await sb.kill();
    const removed = atoll("service", "uninstall", "--name", name);
    assert.match(removed, /ran: systemctl disable --now/);
    assert.match(removed, /: removed/);
    assert.equal(existsSync(`/etc/systemd/system/${unit}`), false);
    assert.notEqual(systemctl("is-active", unit).stdout.trim(), "active");
  } finally {
    if (existsSync(`/etc/systemd/system/${unit}`)) spawnSync(process.execPath, [MAIN, "service", "uninstall", "--name", name]);
    // Whatever the service left in its state directory (a failed assertion's sandbox) goes with
    // one more daemon (test daemons stop every sandbox on exit).
    const last = await startTestDaemon({ stateDir });
    await last.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
