/**
 * The SDK (`atoll`) against a real `atoll serve`: processes, streams, stdin, exit codes,
 * signals, the `sh` builder, env, sessions, disposal and error reporting.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { AuthenticationError, Client, CommandError, CommandTimeoutError, InvalidArgumentError, Sandbox, type ShellResult } from "atoll";
import { captureStdout } from "../e2e/capture-stdout.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

let daemon: TestDaemon;
let client: Client;
before(async () => {
  daemon = await startTestDaemon();
  client = new Client({ url: daemon.url, token: daemon.token });
});
after(async () => {
  if (client) for (const s of await client.listSandboxes({ state: "running" })) await client.killSandbox(s.id);
  await daemon?.dispose();
});

/** Reads from a stream until the collected text contains `needle`; returns the text. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, needle: string): Promise<string> {
  let text = "";
  while (!text.includes(needle)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before "${needle}"; got ${JSON.stringify(text)}`);
    text += dec.decode(value, { stream: true });
  }
  return text;
}

/** Waits (bounded) until the daemon reports the sandbox stopped. */
async function waitStopped(id: string): Promise<string | null> {
  for (let i = 0; i < 200; i++) {
    const info = await client.getSandbox(id);
    if (info.state === "stopped") return info.stopReason;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sandbox ${id} did not stop`);
}

describe("sh builder", () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await client.createSandbox({ timeout: "10m", env: { FROM_CREATE: "yes" } });
  });
  after(() => sandbox?.kill());

  test("text, user, default cwd, sudo and cwd()", async () => {
    assert.equal((await sandbox.sh`echo hello`.text()).trimEnd(), "hello");
    assert.equal((await sandbox.sh`id -un`.text()).trimEnd(), "app");
    assert.equal((await sandbox.sh`pwd`.text()).trimEnd(), "/home/app");
    assert.equal((await sandbox.sh`id -u`.sudo().text()).trimEnd(), "0");
    assert.equal((await sandbox.sh`pwd`.cwd("/tmp").text()).trimEnd(), "/tmp");
    await sandbox.sh`mkdir -p /home/app/project`;
    assert.equal((await sandbox.sh`pwd`.cwd("project").text()).trimEnd(), "/home/app/project");
  });

  test("interpolated values arrive as single arguments, byte for byte", async () => {
    const awkward = ["it's", 'say "hi"', "$HOME", "`id`", "a\nb", "*", " lead", "ü€😀", "-n"];
    for (const value of awkward) {
      assert.equal((await sandbox.sh`printf %s ${value}`.text()).trimEnd(), value.replace(/\n+$/, ""), JSON.stringify(value));
    }
    assert.deepEqual(await sandbox.sh`printf '%s\n' ${["a b", "c"]}`.lines(), ["a b", "c"]);
  });

  test("json and lines", async () => {
    assert.deepEqual(await sandbox.sh`printf '{"a":[1,2],"b":"x"}'`.json(), { a: [1, 2], b: "x" });
    assert.deepEqual(await sandbox.sh`printf 'one\ntwo\n\n'`.lines(), ["one", "two"]);
    assert.deepEqual(await sandbox.sh`true`.lines(), []);
  });

  test("a non-zero exit throws CommandError with code and output; noThrow returns it", async () => {
    await assert.rejects(sandbox.sh`echo out; echo err >&2; exit 3`.stdout("piped").stderr("piped"), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.exitCode, 3);
      assert.equal(e.stdout, "out\n");
      assert.equal(e.stderr, "err\n");
      assert.match(e.message, /exit code 3/);
      assert.equal(e.code, 3);
      assert.doesNotMatch(e.message, /echo out/);
      return true;
    });
    const r = await sandbox.sh`exit 42`.noThrow();
    assert.deepEqual(r.status, { success: false, code: 42, signal: null, oom: false });
  });

  test("await yields bytes and text; inherit prints and captures; null discards", async () => {
    let result!: ShellResult;
    const printed = await captureStdout(async () => {
      result = await sandbox.sh`echo streamed-to-terminal`;
    });
    assert.match(printed, /streamed-to-terminal\n/);
    assert.equal(result.stdoutText, "streamed-to-terminal\n");
    assert.deepEqual(result.stdout, enc.encode("streamed-to-terminal\n"));
    const quiet = await sandbox.sh`echo gone`.stdout("null");
    assert.equal(quiet.stdout.byteLength, 0);
  });

  test("stdin: string, bytes and stream", async () => {
    assert.equal((await sandbox.sh`tr a-z A-Z`.stdin("hello\n").text()).trimEnd(), "HELLO");
    const all = new Uint8Array(256).map((_, i) => i);
    const echoed = await sandbox.sh`cat`.stdin(all).stdout("piped");
    assert.deepEqual(echoed.stdout, all);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode("a\n"));
        c.enqueue(enc.encode("b\n"));
        c.close();
      },
    });
    assert.equal((await sandbox.sh`wc -l`.stdin(stream).text()).trimEnd(), "2");
  });

  test("large output arrives complete", async () => {
    const r = await sandbox.sh`head -c 5000000 /dev/zero`.stdout("piped");
    assert.equal(r.stdout.byteLength, 5_000_000);
  });

  test("env: create-time, sandbox.env, per command", async () => {
    assert.equal((await sandbox.sh`echo $FROM_CREATE`.text()).trimEnd(), "yes");
    await sandbox.env.set("LATER", "set later");
    assert.equal(await sandbox.env.get("LATER"), "set later");
    assert.equal((await sandbox.sh`echo "$LATER"`.text()).trimEnd(), "set later");
    assert.equal((await sandbox.sh`echo "$A-$B"`.env({ A: "1" }).env("B", "2").text()).trimEnd(), "1-2");
    await sandbox.env.delete("LATER");
    assert.equal((await sandbox.sh`echo "[$LATER]"`.text()).trimEnd(), "[]");
    assert.equal((await sandbox.env.toObject()).FROM_CREATE, "yes");
  });

  test("timeout() kills and throws CommandTimeoutError", async () => {
    await assert.rejects(sandbox.sh`sleep 100`.timeout(300), CommandTimeoutError);
  });

  test("signal(abortSignal) ends the command with SIGTERM, as in Deno (exit code 143)", async () => {
    const ac = new AbortController();
    const run = sandbox.sh`sleep 100`.signal(ac.signal).noThrow(); // starts it
    await sandbox.sh`true`; // a round trip on the same session
    ac.abort();
    assert.equal((await run).status.code, 143);
  });

  test("interpolating null/undefined/objects throws TypeError at once", () => {
    assert.throws(() => sandbox.sh`ls ${null}`, TypeError);
    assert.throws(() => sandbox.sh`ls ${undefined}`, TypeError);
    assert.throws(() => sandbox.sh`ls ${{}}`, TypeError);
  });
});

describe("spawn", () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await client.createSandbox({ timeout: "10m" });
  });
  after(() => sandbox?.kill());

  test("output streams while the process runs; stdin is interactive", async () => {
    const child = await sandbox.spawn("/bin/sh", {
      args: ["-c", 'echo ready; read line; echo "got $line"'],
      stdin: "piped",
      stdout: "piped",
    });
    assert.ok(child.pid > 1);
    const reader = child.stdout!.getReader();
    assert.equal(await readUntil(reader, "ready\n"), "ready\n"); // before we wrote anything
    const writer = child.stdin!.getWriter();
    await writer.write(enc.encode("ping\n"));
    assert.equal(await readUntil(reader, "\n"), "got ping\n");
    await writer.close();
    assert.deepEqual(await child.status, { success: true, code: 0, signal: null, oom: false });
  });

  test("kill() signals the process group; status reports the signal", async () => {
    const child = await sandbox.spawn("/bin/sh", { args: ["-c", "sleep 100 & sleep 100; wait"], stdout: "null" });
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.success, false);
    assert.equal(status.code, null);
    // The exit is reported after both output pipes closed, and the background sleep held them:
    // so it got the signal too.
    assert.equal(status.signal, "SIGTERM");
  });

  test("an AbortSignal sends SIGTERM", async () => {
    const ac = new AbortController();
    const child = await sandbox.spawn("sleep", { args: ["100"], signal: ac.signal });
    ac.abort();
    assert.equal((await child.status).signal, "SIGTERM");
  });

  test("exit codes and output()", async () => {
    const child = await sandbox.spawn("/bin/sh", { args: ["-c", "echo o; echo e >&2; exit 5"], stdout: "piped", stderr: "piped" });
    const { status, stdout, stderr } = await child.output();
    assert.equal(status.code, 5);
    assert.equal(dec.decode(stdout), "o\n");
    assert.equal(dec.decode(stderr), "e\n");
  });

  test("a command that cannot start rejects with an AtollError", async () => {
    await assert.rejects(sandbox.spawn("/no/such/binary"), (e: unknown) => {
      assert.ok(e instanceof Error && "code" in e);
      return true;
    });
    assert.equal((await sandbox.sh`echo still-usable`.text()).trimEnd(), "still-usable");
  });

  test("unknown spawn options are refused", async () => {
    await assert.rejects(sandbox.spawn("ls", { stdot: "piped" } as never), InvalidArgumentError);
  });
});

describe("sessions and lifecycle", () => {
  test("connect opens a second session on the same sandbox; closing it leaves the sandbox running", async () => {
    await using owner = await Sandbox.create({ url: daemon.url, token: daemon.token, timeout: "5m" });
    await owner.sh`echo shared > /tmp/note`;
    {
      await using other = await Sandbox.connect(owner.id, { url: daemon.url, token: daemon.token });
      assert.equal((await other.sh`cat /tmp/note`.text()).trimEnd(), "shared");
    }
    assert.equal((await owner.info()).state, "running");
    assert.equal((await owner.sh`cat /tmp/note`.text()).trimEnd(), "shared");
  });

  test("await using kills a created session sandbox and only closes a fixed-timeout one (Deno's meaning)", async () => {
    let id = "";
    let timedId = "";
    {
      await using sandbox = await client.createSandbox();
      await using timed = await client.createSandbox({ timeout: "5m" });
      id = sandbox.id;
      timedId = timed.id;
      await sandbox.sh`true`;
    }
    const info = await client.getSandbox(id);
    assert.equal(info.state, "stopped");
    await assert.rejects(client.connectSandbox(id), { code: "SANDBOX_NOT_RUNNING" });
    assert.equal((await client.getSandbox(timedId)).state, "running");
    await client.killSandbox(timedId);
  });

  test("a session sandbox ends when its creator closes the session", async () => {
    const sandbox = await client.createSandbox();
    assert.equal((await sandbox.info()).timeout, "session");
    await sandbox.sh`true`;
    await sandbox.close();
    assert.equal(await waitStopped(sandbox.id), "session-closed");
  });

  test("kill() fails running processes and later commands with SANDBOX_NOT_RUNNING", async () => {
    const sandbox = await client.createSandbox({ timeout: "5m" });
    const child = await sandbox.spawn("sleep", { args: ["100"] });
    await sandbox.kill();
    // Either the exit (SIGKILL) or the stop notice arrives first; both end the process cleanly.
    const outcome = await child.status.then(
      (s) => s.signal,
      (e: { code?: string }) => e.code,
    );
    assert.ok(outcome === "SIGKILL" || outcome === "SANDBOX_NOT_RUNNING", String(outcome));
    await assert.rejects(sandbox.sh`true`, { code: "SANDBOX_NOT_RUNNING" });
    await sandbox.kill(); // no-op
  });

  test("extendTimeout pushes expiresAt later", async () => {
    await using sandbox = await client.createSandbox({ timeout: "5m" });
    const before = Date.parse((await sandbox.info()).expiresAt!);
    const after = (await sandbox.extendTimeout("10m")).getTime();
    assert.ok(after >= before + 9 * 60_000, `${before} → ${after}`);
  });

  test("list filters by label and state", async () => {
    const suite = `sdk-e2e-${Math.random().toString(36).slice(2)}`;
    await using a = await client.createSandbox({ timeout: "5m", labels: { suite, n: "1" } });
    await using b = await client.createSandbox({ timeout: "5m", labels: { suite, n: "2" } });
    const both = await Sandbox.list({ labels: { suite } }, { url: daemon.url, token: daemon.token });
    assert.deepEqual(both.map((s) => s.id).sort(), [a.id, b.id].sort());
    const one = await client.listSandboxes({ labels: { suite, n: "2" }, state: "running" });
    assert.deepEqual(
      one.map((s) => s.id),
      [b.id],
    );
  });
});

describe("errors", () => {
  test("unknown or invalid create options are INVALID_ARGUMENT naming the option", async () => {
    await assert.rejects(client.createSandbox({ memroy: "1GiB" } as never), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, /memroy/);
      return true;
    });
    await assert.rejects(client.createSandbox({ memory: "12XB" }), /12XB/);
    await assert.rejects(client.createSandbox({ timeout: "forever" }), InvalidArgumentError);
  });

  test("the daemon itself refuses unknown options (SDK validation bypassed)", async () => {
    const res = await fetch(`${daemon.url}/v1/sandboxes`, {
      method: "POST",
      headers: { authorization: `Bearer ${daemon.token}`, "content-type": "application/json" },
      body: JSON.stringify({ memroy: "1GiB" }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "INVALID_ARGUMENT");
  });

  test("a wrong token is an AuthenticationError everywhere", async () => {
    const bad = { url: daemon.url, token: "0".repeat(64) };
    await assert.rejects(new Client(bad).listVolumes(), AuthenticationError);
    await assert.rejects(Sandbox.create(bad), { code: "UNAUTHORIZED" });
    await using sandbox = await client.createSandbox({ timeout: "5m" });
    await assert.rejects(Sandbox.connect(sandbox.id, bad), AuthenticationError);
  });

  test("an unknown sandbox is SANDBOX_NOT_FOUND", async () => {
    await assert.rejects(client.connectSandbox("sbx_doesnotexist"), { code: "SANDBOX_NOT_FOUND" });
  });
});

test("runtimes with a global WebSocket authenticate with subprotocols", async () => {
  // Node 20 has globalThis.WebSocket only behind a flag; Deno, Bun and Node ≥ 22 always do.
  const script = `
    import { Sandbox } from "atoll";
    if (typeof WebSocket !== "function") throw new Error("no global WebSocket");
    const sandbox = await Sandbox.create({ url: process.env.U, token: process.env.T, timeout: "5m" });
    try {
      console.log(await sandbox.sh\`echo via-native-websocket\`.text());
    } finally {
      await sandbox.kill(); // node 20 has no \`await using\` syntax
    }`;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--experimental-websocket", "--no-warnings", "--input-type=module", "-e", script],
      { env: { ...process.env, U: daemon.url, T: daemon.token }, cwd: new URL(".", import.meta.url).pathname },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
  assert.equal(stdout.trim(), "via-native-websocket");
});
