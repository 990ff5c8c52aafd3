import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CommandError, CommandTimeoutError, Sandbox, SandboxCommandError } from "./index.js";
import { type FakeDaemon, startFakeDaemon } from "./testing/fake-daemon.js";

interface EchoedSpawn {
  cmd: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  user: string;
  stdin: boolean;
  clearEnv: boolean;
}

describe("sandbox.sh builder", () => {
  let daemon: FakeDaemon;
  let sandbox: Sandbox;
  before(async () => {
    daemon = await startFakeDaemon();
    sandbox = await Sandbox.create({ url: daemon.url, token: daemon.token });
  });
  after(async () => {
    await sandbox?.kill();
    await daemon?.stop();
  });

  test("a builder that is never awaited sends nothing", async () => {
    const before = daemon.spawnCount();
    const cmd = sandbox.sh`echo-request`.cwd("/tmp").env({ A: "1" }).sudo().noThrow().stdout("piped");
    void cmd.script;
    await sandbox.info(); // a full round trip to the daemon: anything sent earlier has arrived
    assert.equal(daemon.spawnCount(), before);
    await cmd;
    assert.equal(daemon.spawnCount(), before + 1);
  });

  test("modifiers return new builders and leave the original unchanged", async () => {
    const base = sandbox.sh`echo-request`;
    const changed = base.cwd("/tmp").env({ A: "1" }).sudo().stdin("x");
    assert.notEqual(base, changed);
    const original = (await base.json()) as EchoedSpawn;
    assert.deepEqual(
      { cwd: original.cwd, user: original.user, env: original.env, stdin: original.stdin },
      { cwd: undefined, user: "app", env: {}, stdin: false },
    );
    const modified = (await changed.json()) as EchoedSpawn;
    assert.deepEqual(
      { cwd: modified.cwd, user: modified.user, env: modified.env, stdin: modified.stdin },
      { cwd: "/tmp", user: "root", env: { A: "1" }, stdin: true },
    );
  });

  test("runs the script as /bin/bash -c (as Deno Sandbox does) with quoted interpolations", async () => {
    const echoed = (await sandbox.sh`echo-request ${"a b"} ${["c", "it's"]}`.noThrow().json()) as EchoedSpawn;
    assert.equal(echoed.cmd, "/bin/bash");
    assert.deepEqual(echoed.args, ["-c", `echo-request 'a b' c 'it'"'"'s'`]);
  });

  test("env accumulates over calls in both forms; relative cwd resolves against /home/app", async () => {
    const cmd = sandbox.sh`echo-request`.env({ A: "1", B: "x" }).env("B", "2").cwd("proj/../work");
    const echoed = (await cmd.json()) as EchoedSpawn;
    assert.deepEqual(echoed.env, { A: "1", B: "2" });
    assert.equal(echoed.cwd, "/home/app/work");
  });

  test("interpolating null, undefined, objects or promises throws TypeError synchronously", () => {
    const before = daemon.spawnCount();
    assert.throws(() => sandbox.sh`ls ${null}`, TypeError);
    assert.throws(() => sandbox.sh`ls ${undefined}`, TypeError);
    assert.throws(() => sandbox.sh`ls ${{ a: 1 }}`, TypeError);
    assert.throws(() => sandbox.sh`ls ${Promise.resolve("x")}`, /promise/);
    assert.equal(daemon.spawnCount(), before);
  });

  test("await yields status, bytes and text", async () => {
    const result = await sandbox.sh`print:hello\n`.stdout("piped");
    assert.deepEqual(result.status, { success: true, code: 0, signal: null, oom: false });
    assert.equal(result.stdoutText, "hello\n");
    assert.deepEqual(result.stdout, new TextEncoder().encode("hello\n"));
    assert.equal(result.stderrText, "");
  });

  test("text() returns stdout untouched (as in Deno Sandbox); lines() splits; json() parses", async () => {
    assert.equal(await sandbox.sh`print:  a b \n\n\n`.text(), "  a b \n\n\n");
    assert.deepEqual(await sandbox.sh`print:one\ntwo\n`.lines(), ["one", "two"]);
    assert.deepEqual(await sandbox.sh`print:`.lines(), []);
    assert.deepEqual(await sandbox.sh`print:{"a":[1,2]}\n`.json(), { a: [1, 2] });
    await assert.rejects(sandbox.sh`print:not json`.json(), SyntaxError);
  });

  test("a non-zero exit throws SandboxCommandError (code = exit code, no command text) unless noThrow()", async () => {
    await assert.rejects(sandbox.sh`exit 3`.stderr("piped"), (e: unknown) => {
      assert.ok(e instanceof SandboxCommandError);
      assert.ok(e instanceof CommandError);
      assert.equal(e.code, 3);
      assert.equal(e.exitCode, 3);
      assert.doesNotMatch(e.message, /exit 3/);
      assert.match(e.message, /exit code 3/);
      assert.equal(e.stderr, "boom\n");
      return true;
    });
    const result = await sandbox.sh`exit 3`.stderr("piped").noThrow();
    assert.equal(result.status.code, 3);
    assert.equal(result.status.success, false);
    assert.equal(result.stderrText, "boom\n");
  });

  test("stdin data reaches the command and stdin is closed", async () => {
    assert.equal(await sandbox.sh`cat`.stdin("hello\nworld\n").text(), "hello\nworld\n");
    assert.equal(await sandbox.sh`cat`.stdin(new TextEncoder().encode("bytes")).text(), "bytes");
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("from "));
        c.enqueue(new TextEncoder().encode("a stream"));
        c.close();
      },
    });
    assert.equal(await sandbox.sh`cat`.stdin(stream).text(), "from a stream");
  });

  test("timeout() kills with SIGKILL and throws CommandTimeoutError, even with noThrow", async () => {
    await assert.rejects(sandbox.sh`sleep`.noThrow().timeout(20), CommandTimeoutError);
    const last = daemon.messages.filter((m) => m.type === "signal").at(-1);
    assert.equal(last?.signal, "SIGKILL");
  });

  test("signal(abortSignal) sends SIGTERM, as in Deno (code 143); an aborted signal spawns nothing", async () => {
    const ac = new AbortController();
    const run = sandbox.sh`sleep`.signal(ac.signal).then(
      () => assert.fail("should reject"),
      (e: unknown) => e,
    );
    const child = await sandbox.sh`sleep`.spawn(); // a round trip: the first spawn has started
    child.kill("SIGKILL");
    ac.abort();
    const err = await run;
    assert.ok(err instanceof SandboxCommandError);
    assert.equal(err.code, 143);
    assert.equal(daemon.messages.filter((m) => m.type === "signal").at(-1)?.signal, "SIGTERM");
    const before = daemon.spawnCount();
    const again = await sandbox.sh`sleep`.signal(ac.signal).noThrow();
    assert.equal(again.status.code, 143);
    assert.equal(daemon.spawnCount(), before);
  });

  test("each await runs the command again", async () => {
    const cmd = sandbox.sh`print:x`.stdout("null");
    const before = daemon.spawnCount();
    await cmd;
    await cmd;
    assert.equal(daemon.spawnCount(), before + 2);
  });

  test("spawn() returns a ChildProcess with the builder's settings", async () => {
    const child = await sandbox.sh`cat`.stdin("ping").stdout("piped").spawn();
    assert.equal(typeof child.pid, "number");
    const { status, stdout } = await child.output();
    assert.equal(status.success, true);
    assert.equal(new TextDecoder().decode(stdout), "ping");
  });

  test("bad modifier arguments are rejected when the modifier is called", () => {
    assert.throws(() => sandbox.sh`x`.stdout("loud" as never), { code: "INVALID_ARGUMENT" });
    assert.throws(() => sandbox.sh`x`.timeout(-1), { code: "INVALID_ARGUMENT" });
    assert.throws(() => (sandbox.sh as unknown as (s: string) => unknown)("ls"), TypeError);
  });
});
