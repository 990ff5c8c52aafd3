import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { describeExit, watchLauncher } from "./launcher-watch.js";

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
