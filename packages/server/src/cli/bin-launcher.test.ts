/**
 * The `atoll` bin is a committed launcher (bin/atoll.mjs), so `npm ci` on a fresh clone links it
 * before anything is built: it runs the compiled CLI, or says how to build it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const PACKAGE = fileURLToPath(new URL("../../", import.meta.url));

test("package.json's bin is the committed, executable launcher", () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE, "package.json"), "utf8")) as { bin: Record<string, string> };
  assert.equal(pkg.bin.atoll, "./bin/atoll.mjs");
  accessSync(join(PACKAGE, "bin/atoll.mjs"), constants.X_OK);
});

test("the launcher runs the built CLI", () => {
  const r = spawnSync(process.execPath, [join(PACKAGE, "bin/atoll.mjs"), "--help"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: atoll /);
  assert.match(r.stdout, /doctor/);
});

test("before a build it says what to run, exit 1", () => {
  const clone = mkdtempSync(join(tmpdir(), "atoll-bin-"));
  try {
    mkdirSync(join(clone, "packages/server/bin"), { recursive: true });
    copyFileSync(join(PACKAGE, "bin/atoll.mjs"), join(clone, "packages/server/bin/atoll.mjs"));
    const r = spawnSync(process.execPath, [join(clone, "packages/server/bin/atoll.mjs"), "--help"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `atoll: not built yet: run \`npm run build\` (or \`npm start\`, which also sets up the host) in ${clone}/\n`);
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
});
