import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { AtollError } from "atoll/contract";
import { CRASH_POINTS, armCrashPoint } from "./crash-points.js";

const MODULE = fileURLToPath(new URL("./crash-points.js", import.meta.url));

/** Runs `armCrashPoint(process.env)` then `crashPoint(call)` in a fresh node with `env`. */
function runArmed(env: Record<string, string>, call: string) {
  const script = `const m = await import(${JSON.stringify(MODULE)}); m.armCrashPoint(process.env); m.crashPoint(${JSON.stringify(call)}); console.log("alive");`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8" });
}

test("the armed point kills the process with SIGKILL; any other point does nothing", () => {
  const killed = runArmed({ ATOLL_CRASH_AT: "volume.create.after-mkfs" }, "volume.create.after-mkfs");
  assert.equal(killed.signal, "SIGKILL");
  assert.equal(killed.stdout, "");
  const other = runArmed({ ATOLL_CRASH_AT: "volume.create.after-mkfs" }, "volume.create.after-row");
  assert.equal(other.status, 0, other.stderr);
  assert.equal(other.stdout, "alive\n");
  const unarmed = runArmed({}, "volume.create.after-mkfs");
  assert.equal(unarmed.stdout, "alive\n");
});

test("armCrashPoint reads the variable once, removes it from the environment, and refuses unknown names", () => {
  const env: NodeJS.ProcessEnv = { ATOLL_CRASH_AT: "no.such.point" };
  assert.throws(
    () => armCrashPoint(env),
    (err: unknown) => err instanceof AtollError && err.code === "CONFIG_INVALID" && /no\.such\.point/.test(err.message),
  );
  assert.equal(env.ATOLL_CRASH_AT, undefined, "children of the daemon must not inherit it");
  assert.equal(armCrashPoint({}), undefined);
});

test("point names are unique and say which request and step they belong to", () => {
  assert.equal(new Set(CRASH_POINTS).size, CRASH_POINTS.length);
  for (const p of CRASH_POINTS) assert.match(p, /^[a-z]+(\.[a-z]+)?\.[a-z]+(-[a-z]+)*$/);
});
