/**
 * `atoll service` as an operator runs it, with the real systemctl (`--root`: it links the unit
 * into a tree without a running systemd) and systemd-analyze checking the unit. This machine has
 * no systemd as init, so `systemctl enable --now` on a live system is not exercised here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runToEnd } from "../testing/cli-runner.js";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "atoll-service-"));
after(() => rmSync(work, { recursive: true, force: true }));
const atoll = (...args: string[]) => runToEnd(process.execPath, [MAIN, "service", ...args]);

test("--print shows a unit that systemd-analyze accepts, and changes nothing", async () => {
  const r = await atoll("install", "--print", "--state-dir", join(work, "state dir"), "--listen", "127.0.0.1:7999", "--env", "ATOLL_NETWORK=off");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^ExecStart=${process.execPath} ${MAIN} serve --state-dir "${work}/state dir" --listen 127.0.0.1:7999$`, "m"));
  assert.match(r.stdout, /^KillMode=process$/m);
  const file = join(work, "atoll.service");
  writeFileSync(file, r.stdout);
  const verify = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  assert.deepEqual([verify.status, verify.stderr.trim()], [0, ""], "systemd parses every line without a warning");
  // The check can fail: the same unit with a bad KillMode does.
  writeFileSync(file, r.stdout.replace(/^KillMode=process$/m, "KillMode=nonsense"));
  const bad = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  assert.match(bad.stderr, /Failed to parse kill mode/, "systemd-analyze reports a broken line");
  assert.equal((await atoll("install", "--print", "--listen", "nonsense")).code, 1, "a bad address is refused");
});

test("install --root writes the unit and systemctl enables it there; again is unchanged; uninstall removes both", async () => {
  const root = join(work, "root");
  const unit = join(root, "etc/systemd/system/atoll-test.service");
  const wants = join(root, "etc/systemd/system/multi-user.target.wants/atoll-test.service");
  const first = await atoll("install", "--root", root, "--name", "atoll-test", "--state-dir", "/srv/atoll");
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /atoll-test\.service: written\nran: systemctl --root=.* enable atoll-test\.service/);
  assert.match(readFileSync(unit, "utf8"), /--state-dir \/srv\/atoll --listen 127\.0\.0\.1:7420$/m);
  assert.equal(statSync(unit).mode & 0o777, 0o644);
  assert.ok(lstatSync(wants).isSymbolicLink(), "systemctl --root linked it into multi-user.target");
  assert.equal(readlinkSync(wants), "/etc/systemd/system/atoll-test.service");

  const again = await atoll("install", "--root", root, "--name", "atoll-test", "--state-dir", "/srv/atoll");
  assert.match(again.stdout, /: unchanged/);
  const moved = await atoll("install", "--root", root, "--name", "atoll-test", "--state-dir", "/srv/other");
  assert.match(moved.stdout, /: updated/);

  const removed = await atoll("uninstall", "--root", root, "--name", "atoll-test");
  assert.equal(removed.code, 0, removed.stderr);
  assert.ok(!existsSync(unit) && !existsSync(wants));
  const twice = await atoll("uninstall", "--root", root, "--name", "atoll-test");
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /error \[NOT_FOUND\]: No unit/);
  assert.equal((await atoll("install", "--root", root, "--name", "Bad/Name")).code, 1);
});

test("without systemd as init, install refuses and writes nothing", async (t) => {
  if (existsSync("/run/systemd/system")) return t.skip("systemd runs here: a real install would change this host");
  const before = existsSync("/etc/systemd/system/atoll-refused.service");
  const r = await atoll("install", "--name", "atoll-refused");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[INVALID_ARGUMENT\]: systemd is not running on this host .*nothing was changed/);
  assert.equal(existsSync("/etc/systemd/system/atoll-refused.service"), before);
});
