import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { describeExit, pidAlive, pidRunning, watchLauncher } from "./launcher-watch.js";

const sh = (script: string) => spawn("/bin/sh", ["-c", script], { stdio: ["pipe", "pipe", "pipe"] });

describe("watchLauncher", () => {
  it("keeps an exit and the stderr that came before anyone looked", async () => {
    const watch = watchLauncher(sh("echo 'atoll-launch: /x/cgroup.procs: No such file or directory' >&2; exit 125"));
    await sleep(300); // exited, and its stdio drained, while nobody listened
    assert.deepEqual(watch.exit, { code: 125, signal: null });
    assert.deepEqual(await watch.exited, { code: 125, signal: null });
    assert.match(watch.stderr, /No such file or directory/);
    assert.equal(describeExit(watch.exit!), "exited with code 125");
  });

  it("passes later stderr lines to the owner, whole lines only", async () => {
    const watch = watchLauncher(sh("read go; printf 'one\\ntw' >&2; sleep 0.1; printf 'o\\n' >&2; exit 0"));
    const lines: string[] = [];
    watch.onLine((l) => lines.push(l));
    watch.proc.stdin.end("go\n");
    await watch.exited;
    await sleep(50);
    assert.deepEqual(lines, ["one", "two"]);
    assert.equal(watch.stderr, "one\ntwo\n");
  });

  it("reports a signal and a program that could not start", async () => {
    const killed = watchLauncher(sh("exec sleep 10"));
    killed.proc.kill("SIGKILL");
    assert.equal(describeExit(await killed.exited), "killed by SIGKILL");
    const missing = watchLauncher(spawn("/nonexistent/atoll-launch", [], { stdio: ["pipe", "pipe", "pipe"] }));
    const e = await missing.exited;
    assert.match(describeExit(e), /could not start: .*ENOENT/);
    missing.proc.stdin.end("ignored"); // writing to a launcher that never ran must not throw
  });
});

describe("pidRunning", () => {
  it("counts a zombie (exited, not reaped) as ended, where pidAlive still sees it", async () => {
    // The child ends 0.3 s later, when its parent has exec'd sleep, which never reaps it (a child
    // that ended before the exec could be reaped by sh itself).
    const parent = sh("sleep 0.3 & echo $!; exec sleep 30");
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (d: Buffer) => resolve(d.toString()))));
      // Generous: the machine may be busy.
      for (const deadline = Date.now() + 10_000; pidRunning(pid) && Date.now() < deadline; ) await sleep(20);
      assert.equal(pidRunning(pid), false);
      assert.ok(pidAlive(pid), "the zombie still has its pid (nobody reaped it)");
      assert.equal(pidRunning(parent.pid!), true);
      assert.equal(pidRunning(process.pid), true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
