/**
 * The `atoll` client subcommands (sandbox …, volume …) as a user runs them: the real binary
 * against a real daemon, checking output, exit codes and `error [CODE]: message`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runCli } from "../testing/cli-runner.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";

let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon();
});
after(() => daemon?.dispose());

/** Runs `atoll --url … --token … ARGS`, optionally feeding `input` to its stdin. */
const atoll = (args: string[], input?: string, token = daemon.token) => runCli({ url: daemon.url, token }, args, input);

test("volume and sandbox commands, end to end", async () => {
  const created = await atoll(["volume", "create", "cli-data", "--size", "0.5"]);
  assert.equal(created.code, 0, created.stderr);
  const volumeId = created.stdout.trim();
  assert.match(volumeId, /^vol_/);

  const sbx = await atoll(["sandbox", "create", "--memory", "512MiB", "--label", "from=cli", "--volume", "cli-data:/mnt/data"]);
  assert.equal(sbx.code, 0, sbx.stderr);
  const id = sbx.stdout.trim();
  assert.match(id, /^sbx_/);

  // Output streams through; stdin is piped when it is not a TTY; the exit code is the command's.
  const write = await atoll(["sandbox", "exec", id, "--", "sh", "-c", "cat > /mnt/data/f; echo written; echo warn >&2; exit 3"], "payload\n");
  assert.deepEqual(write, { code: 3, stdout: "written\n", stderr: "warn\n" });
  const read = await atoll(["sandbox", "exec", "--cwd", "/mnt/data", id, "--", "cat", "f"]);
  assert.deepEqual(read, { code: 0, stdout: "payload\n", stderr: "" });
  assert.equal((await atoll(["sandbox", "exec", "--sudo", id, "--", "id", "-u"])).stdout, "0\n");
  assert.equal((await atoll(["sandbox", "exec", id, "--", "sh", "-c", "kill -TERM $$"])).code, 143);

  const ls = await atoll(["sandbox", "ls"]);
  assert.match(ls.stdout, new RegExp(`${id}\\s+running`));
  assert.match(ls.stdout, /cli-data:\/mnt\/data/);
  const vls = await atoll(["volume", "ls"]);
  assert.match(vls.stdout, /^NAME\s+ID\s+USED \/ CAPACITY\s+FILES\s+MOUNTED BY\s+LAST USED/);
  assert.match(vls.stdout, new RegExp(`cli-data\\s+${volumeId}\\s+.* / 512\\.0 MiB\\s+1[0-9] / 131,072\\s+${id}:/mnt/data\\s+now`));
  const inspect = JSON.parse((await atoll(["volume", "inspect", "cli-data"])).stdout) as { id: string; attachments: unknown[] };
  assert.equal(inspect.id, volumeId);
  assert.equal(inspect.attachments.length, 1);

  const busy = await atoll(["volume", "rm", "cli-data"]);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /^error \[VOLUME_IN_USE\]: /);

  assert.deepEqual(await atoll(["sandbox", "kill", id]), { code: 0, stdout: `${id}\n`, stderr: "" });
  assert.match((await atoll(["sandbox", "ls", "--all"])).stdout, new RegExp(`${id}\\s+stopped \\(killed\\)`));
  assert.equal((await atoll(["volume", "rm", "cli-data"])).code, 0);
  assert.doesNotMatch((await atoll(["volume", "ls"])).stdout, /cli-data/);
});

test("snapshot create, ls and rm", async () => {
  assert.equal((await atoll(["volume", "create", "cli-snap", "--size", "0.25"])).code, 0);
  const created = await atoll(["snapshot", "create", "cli-snap", "cli-snap-1"]);
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  assert.match(id, /^snap_/);
  const ls = await atoll(["snapshot", "ls", "--volume", "cli-snap"]);
  assert.match(ls.stdout, /^NAME\s+ID\s+VOLUME\s+SIZE\s+HELD ALONE\s+TAKEN\n/);
  assert.match(ls.stdout, new RegExp(`cli-snap-1\\s+${id}\\s+cli-snap\\s+256\\.0 MiB\\s`));
  const taken = await atoll(["snapshot", "create", "cli-snap", "cli-snap-1"]);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /^error \[SNAPSHOT_NAME_TAKEN\]: /);
  assert.equal((await atoll(["volume", "rm", "cli-snap"])).code, 0);
  assert.equal((await atoll(["snapshot", "rm", "cli-snap-1"])).code, 0);
  assert.doesNotMatch((await atoll(["snapshot", "ls"])).stdout, /cli-snap-1/);
  const missing = await atoll(["snapshot", "rm", "cli-snap-1"]);
  assert.match(missing.stderr, /^error \[SNAPSHOT_NOT_FOUND\]: /);
});

test("volume create --from builtin:debian-12 and sandbox create --root boot from it; --root of a plain volume is refused", async () => {
  assert.equal((await atoll(["volume", "create", "cli-img", "--size", "1", "--from", "builtin:debian-12"])).code, 0);
  const sbx = await atoll(["sandbox", "create", "--root", "cli-img", "--timeout", "5m"]);
  assert.equal(sbx.code, 0, sbx.stderr);
  const id = sbx.stdout.trim();
  const out = await atoll(["sandbox", "exec", id, "--", "cat", "/etc/debian_version"]);
  assert.match(out.stdout, /^12\./);
  assert.equal((await atoll(["sandbox", "kill", id])).code, 0);
  assert.equal((await atoll(["volume", "create", "cli-plain", "--size", "0.25"])).code, 0);
  const refused = await atoll(["sandbox", "create", "--root", "cli-plain", "--timeout", "5m"]);
  assert.match(refused.stderr, /^error \[INVALID_ARGUMENT\]: "cli-plain" is not bootable/);
  for (const v of ["cli-img", "cli-plain"]) assert.equal((await atoll(["volume", "rm", v])).code, 0);
});

test("errors print `error [CODE]: message` and exit 1", async () => {
  const bad = await atoll(["volume", "ls"], undefined, "0".repeat(64));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error \[UNAUTHORIZED\]: /);
  const missing = await atoll(["sandbox", "exec", "sbx_nope", "--", "true"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error \[SANDBOX_NOT_FOUND\]: /);
  const invalid = await atoll(["volume", "create", "Bad Name", "--size", "1"]);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /^error \[INVALID_ARGUMENT\]: /);
});

test("sandbox create --no-net / --allow-net set the network policy", async () => {
  const none = await atoll(["sandbox", "create", "--no-net"]);
  assert.equal(none.code, 0, none.stderr);
  const some = await atoll(["sandbox", "create", "--allow-net", "example.com:443", "--allow-net", "1.2.3.0/24"]);
  assert.equal(some.code, 0, some.stderr);
  const list = JSON.parse((await atoll(["sandbox", "ls", "--json"])).stdout) as { id: string; allowNet?: unknown }[];
  assert.deepEqual(list.find((s) => s.id === none.stdout.trim())?.allowNet, []);
  assert.deepEqual(list.find((s) => s.id === some.stdout.trim())?.allowNet, ["example.com:443", "1.2.3.0/24"]);
  const both = await atoll(["sandbox", "create", "--no-net", "--allow-net", "example.com"]);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^error \[INVALID_ARGUMENT\]: /);
  for (const id of [none.stdout.trim(), some.stdout.trim()]) assert.equal((await atoll(["sandbox", "kill", id])).code, 0);
});

test("sandbox kill --label / --all kill every matching running sandbox in one call; a bad id fails alone", async () => {
  const make = async (label: string) => (await atoll(["sandbox", "create", "--label", `batch=${label}`])).stdout.trim();
  const a = await Promise.all([make("a"), make("a"), make("a")]);
  const b = await make("b");
  const killedA = await atoll(["sandbox", "kill", "--label", "batch=a"]);
  assert.equal(killedA.code, 0, killedA.stderr);
  assert.deepEqual(killedA.stdout.trim().split("\n").sort(), [...a].sort());
  const running = JSON.parse((await atoll(["sandbox", "ls", "--json"])).stdout) as { id: string }[];
  assert.deepEqual(
    running.map((s) => s.id),
    [b],
  );
  const mixed = await atoll(["sandbox", "kill", "sbx_nope", b]);
  assert.equal(mixed.code, 1);
  assert.equal(mixed.stdout, `${b}\n`, "the good id is killed");
  assert.match(mixed.stderr, /^sbx_nope: error \[SANDBOX_NOT_FOUND\]: /);
  const none = await atoll(["sandbox", "kill", "--all"]);
  assert.deepEqual(none, { code: 0, stdout: "", stderr: "" });
  const both = await atoll(["sandbox", "kill", "--all", b]);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^error \[INVALID_ARGUMENT\]: give sandbox ids, or --all/);
});
