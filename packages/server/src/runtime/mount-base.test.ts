import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { type CommandRunner, HostCommandError } from "../host/run-command.js";
import { MountBase } from "./mount-base.js";

test("without a base (a kernel without open_tree) sandboxes start from the daemon's namespace: no launcher options", async () => {
  const runDir = await mkdtemp(path.join(tmpdir(), "atoll-mount-base-"));
  const calls: string[][] = [];
  const failing: CommandRunner = {
    run: (file, args) => {
      calls.push([file, ...args]);
      return Promise.reject(new HostCommandError([file, ...args], 1, "atoll-mntns: re-attaching the run directory: Function not implemented"));
    },
  };
  try {
    const base = new MountBase({ runDir, nativeDir: "/n", runner: failing });
    await base.create();
    assert.deepEqual(calls, [["/n/atoll-mntns", "base", path.join(runDir, "mntns-base"), runDir]]);
    assert.deepEqual(base.launchArgs(["/r"]), []);
    await base.release(); // nothing pinned, nothing to undo
    assert.equal(calls.length, 1);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});

test("with a base the launcher joins it and takes the given trees along", async () => {
  const runDir = await mkdtemp(path.join(tmpdir(), "atoll-mount-base-"));
  const ok: CommandRunner = { run: async () => ({ stdout: "", stderr: "" }) };
  try {
    const base = new MountBase({ runDir, nativeDir: "/n", runner: ok });
    await base.create();
    const pin = path.join(runDir, "mntns-base");
    assert.deepEqual(base.launchArgs(["/r", "/l"]), ["--mount-base", pin, "--attach-tree", "/r", "--attach-tree", "/l"]);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
