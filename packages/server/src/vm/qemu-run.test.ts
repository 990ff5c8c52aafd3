/**
 * runQemu's guarantees, with `sleep` standing in for QEMU (the same code path: setpriv execs the
 * binary): a run past its timeout is stopped, and a runner that dies by SIGKILL takes its
 * "guest" with it. Run: `ATOLL_TEST_FILTER='qemu-run' bash scripts/run-tests.sh`
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { findExecutable } from "../image/bootstrap-runner.js";
import { runQemu } from "./qemu-run.js";

const SETPRIV = findExecutable("setpriv")!;
const SLEEP = findExecutable("sleep")!;

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    // A zombie still has /proc/<pid>; its state is Z until its parent reaps it.
    if (!existsSync(`/proc/${pid}`)) return true;
    await sleep(50);
  }
  return false;
}

test("a guest that runs past its timeout is stopped, and the run says so", async () => {
  const lines: string[] = [];
  const exit = await runQemu(SLEEP, ["300"], { timeoutMs: 300, setpriv: SETPRIV, onLine: (l) => lines.push(l) });
  assert.equal(exit.timedOut, true);
  assert.equal(exit.signal, "SIGTERM");
  const quick = await runQemu(SLEEP, ["0"], { timeoutMs: 60_000, setpriv: SETPRIV, onLine: (l) => lines.push(l) });
  assert.deepEqual(quick, { code: 0, signal: null, timedOut: false });
});

test("a guest dies with its runner, even when the runner is killed with SIGKILL", async () => {
  const module = path.join(path.dirname(fileURLToPath(import.meta.url)), "qemu-run.js");
  const script = `import(${JSON.stringify(module)}).then((m) => { m.runQemu(${JSON.stringify(SLEEP)}, ["300"], { timeoutMs: 600000, setpriv: ${JSON.stringify(SETPRIV)}, onLine: () => {} }); setTimeout(() => {}, 600000); });`;
  const runner = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
  let guest: number | undefined;
  for (let i = 0; i < 200 && guest === undefined; i++) {
    await sleep(50);
    guest = childOf(runner.pid!);
  }
  assert.ok(guest, "the runner started its guest");
  assert.equal(childOf(runner.pid!), guest);
  runner.kill("SIGKILL");
  assert.ok(await gone(guest), `the guest (pid ${guest}) outlived its runner`);
});

/** The pid of `sleep` running as a child of `parent`, if any. */
function childOf(parent: number): number | undefined {
  const children = spawnSyncText("ps", ["-o", "pid=,comm=", "--ppid", String(parent)]);
  const m = /^\s*(\d+)\s+sleep$/m.exec(children);
  return m ? Number(m[1]) : undefined;
}

function spawnSyncText(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8" });
  } catch {
    return "";
  }
}
