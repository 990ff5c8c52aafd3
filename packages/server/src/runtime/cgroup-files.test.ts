import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { killUntilEmpty } from "./cgroup-files.js";

/** A child process and whether it still runs (a stand-in for a cgroup's only member). */
function sleeper() {
  const child = spawn("sleep", ["300"], { stdio: "ignore" });
  const exited = once(child, "exit");
  let alive = true;
  void exited.then(() => (alive = false));
  return { child, exited, alive: () => alive };
}

test("the kill loop SIGKILLs the cgroup's processes until none is left", async () => {
  const s = sleeper();
  await killUntilEmpty({ id: "t", pids: async () => (s.alive() ? [s.child.pid!] : []) });
  const [code, signal] = await s.exited;
  assert.equal(code, null);
  assert.equal(signal, "SIGKILL");
});

test("without signals (v2 cgroup.kill did it) the loop only waits until the cgroup is empty", async () => {
  const s = sleeper();
  let rounds = 0;
  await killUntilEmpty({ id: "t", pids: async () => (++rounds < 4 ? [s.child.pid!] : []) }, false);
  assert.equal(rounds, 4);
  assert.ok(s.alive(), "the process was not signalled");
  s.child.kill("SIGKILL");
  await s.exited;
});
