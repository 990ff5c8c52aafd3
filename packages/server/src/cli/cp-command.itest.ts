/** `atoll cp` as a user runs it: every direction, sandbox to sandbox, stdin/stdout, errors. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { useDaemon } from "../e2e/e2e-helpers.js";
import { runCli } from "../testing/cli-runner.js";

const ctx = useDaemon();
const local = mkdtempSync("/var/tmp/atoll-cp-");
after(() => rmSync(local, { recursive: true, force: true }));

const atoll = (args: string[], input?: string) => runCli(ctx.daemon, args, input);

test("atoll cp: local ⇄ sandbox ⇄ volume ⇄ sandbox, stdin and stdout", async () => {
  const a = await ctx.client.createSandbox({ timeout: "5m" });
  const b = await ctx.client.createSandbox({ timeout: "5m" });
  const vol = await ctx.client.createVolume({ name: "cp-vol", sizeGb: 0.0625 });
  try {
    mkdirSync(join(local, "proj/src"), { recursive: true });
    writeFileSync(join(local, "proj/src/main.txt"), "main");
    writeFileSync(join(local, "proj/readme"), "readme");

    let r = await atoll(["cp", join(local, "proj"), `${a.id}:proj`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await a.sh`cat proj/src/main.txt`.text()).trimEnd(), "main");
    // An existing directory receives the source under its name.
    r = await atoll(["cp", join(local, "proj/readme"), `${a.id}:proj/src`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await a.fs.readTextFile("proj/src/readme"), "readme");

    r = await atoll(["cp", `${a.id}:proj`, `${b.id}:/tmp/copied`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await b.fs.readTextFile("/tmp/copied/src/main.txt"), "main");
    r = await atoll(["cp", `${b.id}:/tmp/copied/readme`, `volume:cp-vol:/readme.txt`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await vol.fs.readTextFile("readme.txt"), "readme");
    r = await atoll(["cp", "--progress", `volume:cp-vol:/`, join(local, "from-volume")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(local, "from-volume/readme.txt"), "utf8"), "readme");
    r = await atoll(["cp", `${a.id}:proj/src/main.txt`, join(local, "main-back.txt")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(local, "main-back.txt"), "utf8"), "main");
    r = await atoll(["cp", join(local, "main-back.txt"), join(local, "local-copy.txt")]);
    assert.equal(readFileSync(join(local, "local-copy.txt"), "utf8"), "main");

    r = await atoll(["cp", "-", `${a.id}:from-stdin.txt`], "piped in\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await a.fs.readTextFile("from-stdin.txt"), "piped in\n");
    r = await atoll(["cp", `${a.id}:from-stdin.txt`, "-"]);
    assert.equal(r.stdout, "piped in\n");

    r = await atoll(["cp", `${a.id}:/etc/shadow`, join(local, "shadow")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error \[PERMISSION_DENIED\]/);
    r = await atoll(["cp", `${a.id}:nope`, join(local, "nope")]);
    assert.match(r.stderr, /^error \[NOT_FOUND\]/);
    r = await atoll(["cp", "--root", `${a.id}:/etc/shadow`, join(local, "shadow")]);
    assert.equal(r.code, 0, r.stderr);
    r = await atoll(["cp", join(local, "proj"), "sbx_missing:/x"]);
    assert.match(r.stderr, /^error \[SANDBOX_NOT_FOUND\]/);
  } finally {
    await a.kill();
    await b.kill();
    await ctx.client.deleteVolume(vol.id);
  }
});
