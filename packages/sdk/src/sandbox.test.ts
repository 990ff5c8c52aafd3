import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { AuthenticationError, Client, ConflictError, SandboxNotRunningError, ConnectionError, InvalidArgumentError, NotFoundError, Sandbox } from "./index.js";
import { type FakeDaemon, startFakeDaemon } from "./testing/fake-daemon.js";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("Sandbox and Client against the documented wire protocol", () => {
  let daemon: FakeDaemon;
  let conn: { url: string; token: string };
  before(async () => {
    daemon = await startFakeDaemon();
    conn = { url: daemon.url, token: daemon.token };
  });
  after(() => daemon?.stop());

  test("create sends the request without url/token and opens the session", async () => {
    await using sandbox = await Sandbox.create({ ...conn, memory: "1GiB", labels: { job: "t" } });
    const post = daemon.requests.find((r) => r.method === "POST" && r.path === "/v1/sandboxes");
    assert.deepEqual(post?.body, { memory: "1GiB", labels: { job: "t" } });
    assert.match(sandbox.id, /^sbx_/);
    assert.equal((await sandbox.info()).state, "running");
  });

  test("unknown or invalid options are rejected before anything is sent", async () => {
    const count = daemon.requests.length;
    await assert.rejects(Sandbox.create({ ...conn, memroy: "1GiB" } as never), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, /unknown option "memroy"/);
      return true;
    });
    await assert.rejects(Sandbox.createVolume({ name: "Bad Name", sizeGb: 1 }, conn), InvalidArgumentError);
    assert.equal(daemon.requests.length, count);
  });

  test("a wrong token is an AuthenticationError", async () => {
    await assert.rejects(Sandbox.create({ url: daemon.url, token: "wrong" }), AuthenticationError);
    await assert.rejects(Sandbox.connect("sbx_x", { url: daemon.url, token: "wrong" }), { code: "UNAUTHORIZED" });
  });

  test("an unreachable daemon is a ConnectionError that says what to do", async () => {
    const stopped = await startFakeDaemon();
    await stopped.stop(); // its port is now closed
    await assert.rejects(Sandbox.list({}, { url: stopped.url, token: "x" }), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.match(e.message, /Cannot reach the Atoll daemon at http:\/\/127\.0\.0\.1:\d+: is `atoll serve` running\?/);
      return true;
    });
  });

  test("spawn: piped stdin/stdout, pid, status", async () => {
    await using sandbox = await Sandbox.create(conn);
    const child = await sandbox.spawn("cat", { stdin: "piped", stdout: "piped", stderr: "null" });
    assert.equal(typeof child.pid, "number");
    assert.equal(child.stderr, null);
    const writer = child.stdin!.getWriter();
    await writer.write(new TextEncoder().encode("hello "));
    await writer.write(new TextEncoder().encode("world"));
    await writer.close();
    const { status, stdout } = await child.output();
    assert.deepEqual(status, { success: true, code: 0, signal: null, oom: false });
    assert.equal(text(stdout), "hello world");
    const spawn = daemon.messages.filter((m) => m.type === "spawn").at(-1);
    assert.deepEqual(
      { cwd: spawn?.cwd, user: spawn?.user, stdin: spawn?.stdin, clearEnv: spawn?.clearEnv },
      { cwd: undefined, user: "app", stdin: true, clearEnv: false }, // no cwd: the daemon's default (/home/app or an image's WorkingDir),
    );
  });

  test("spawn: kill() sends the signal; status reports it", async () => {
    await using sandbox = await Sandbox.create(conn);
    const child = await sandbox.spawn("sleep", { stdout: "null" });
    child.kill();
    assert.equal((await child.status).signal, "SIGTERM");
    child.kill(); // no-op after exit
  });

  test("spawn: an AbortSignal sends SIGTERM", async () => {
    await using sandbox = await Sandbox.create(conn);
    const ac = new AbortController();
    const child = await sandbox.spawn("sleep", { signal: ac.signal });
    ac.abort();
    assert.equal((await child.status).signal, "SIGTERM");
  });

  test("spawn: a failed start rejects with the daemon's error; bad options are InvalidArgumentError", async () => {
    await using sandbox = await Sandbox.create(conn);
    await assert.rejects(sandbox.spawn("/nonexistent"), { code: "INVALID_ARGUMENT", message: /not found/ });
    await assert.rejects(sandbox.spawn("ls", { stdout: "loud" } as never), InvalidArgumentError);
    await assert.rejects(sandbox.spawn("ls", { cwdd: "/" } as never), /unknown option "cwdd"/);
    await assert.rejects(sandbox.spawn("ls", { env: { "1BAD": "x" } }), InvalidArgumentError);
  });

  test("kill(): running processes fail with SANDBOX_NOT_RUNNING; later spawns too", async () => {
    const sandbox = await Sandbox.create(conn);
    const child = await sandbox.spawn("sleep", { stdout: "piped" });
    await sandbox.kill();
    await assert.rejects(child.status, (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.ok(e instanceof SandboxNotRunningError);
      assert.equal(e.code, "SANDBOX_NOT_RUNNING");
      assert.equal(e.stopReason, "killed");
      assert.match(e.message, /stopped while the command was running: it was killed/);
      return true;
    });
    await assert.rejects(child.stdout!.getReader().read(), { code: "SANDBOX_NOT_RUNNING" });
    await assert.rejects(sandbox.sh`true`, { code: "SANDBOX_NOT_RUNNING" });
    await sandbox.kill(); // killing a stopped sandbox is a no-op
  });

  test("close(): running processes fail with a ConnectionError; the sandbox lives on", async () => {
    const sandbox = await Sandbox.create({ ...conn, timeout: "5m" });
    const child = await sandbox.spawn("sleep");
    await sandbox.close();
    await assert.rejects(child.status, (e: unknown) => e instanceof ConnectionError && /close\(\) was called/.test(e.message));
    await assert.rejects(sandbox.spawn("true"), ConnectionError);
    assert.equal((await sandbox.info()).state, "running");
    await sandbox.kill();
  });

  test("await using: a created session sandbox is killed, a connected one only closed", async () => {
    let id: string;
    {
      await using created = await Sandbox.create(conn);
      id = created.id;
      {
        await using connected = await Sandbox.connect(id, conn);
        await connected.sh`true`;
      }
      assert.equal((await created.info()).state, "running");
    }
    const [info] = (await Sandbox.list({}, conn)).filter((s) => s.id === id);
    assert.equal(info?.state, "stopped");
    await assert.rejects(Sandbox.connect(id, conn), { code: "SANDBOX_NOT_RUNNING" });
  });

  test("env: get/set/delete/toObject", async () => {
    await using sandbox = await Sandbox.create({ ...conn, env: { A: "1" } });
    assert.equal(await sandbox.env.get("A"), "1");
    await sandbox.env.set("B", "two");
    assert.deepEqual({ ...(await sandbox.env.toObject()) }, { A: "1", B: "two" });
    await sandbox.env.delete("A");
    assert.equal(await sandbox.env.get("A"), undefined);
    assert.equal(await sandbox.env.get("constructor"), undefined);
  });

  test("list passes labels and state as query parameters", async () => {
    await Sandbox.list({ labels: { a: "1", b: "x=y" }, state: "running" }, conn);
    assert.equal(daemon.requests.at(-1)?.path, "/v1/sandboxes?label=a%3D1&label=b%3Dx%3Dy&state=running");
  });

  test("volumes: create, get by name, attach/detach update sandbox.volumes, delete", async () => {
    const client = new Client(conn);
    const volume = await client.createVolume({ name: "cache", sizeGb: 1 });
    assert.equal(volume.name, "cache");
    assert.equal(volume.capacityBytes, 2 ** 30);
    assert.equal((await client.getVolume("cache")).id, volume.id);
    assert.deepEqual(
      (await client.listVolumes()).map((v) => v.id),
      [volume.id],
    );
    await using sandbox = await client.createSandbox();
    assert.equal(sandbox.volumes.length, 0);
    const attachment = await sandbox.attachVolume({ id: volume.id, mountPath: "/mnt/cache", accessMode: "ro" });
    assert.equal(attachment.accessMode, "ro");
    assert.deepEqual(
      sandbox.volumes.map((v) => v.mountPath),
      ["/mnt/cache"],
    );
    await assert.rejects(sandbox.attachVolume({ id: volume.id, mountPath: "/etc/x" }), InvalidArgumentError);
    await sandbox.detachVolume(volume.id, { force: true });
    assert.equal(daemon.requests.at(-1)?.path, `/v1/sandboxes/${sandbox.id}/volumes/${volume.id}?force=true`);
    assert.deepEqual(sandbox.volumes, []);
    await (await volume.refresh()).delete();
    await assert.rejects(client.getVolume(volume.id), (e: unknown) => e instanceof NotFoundError && e.code === "VOLUME_NOT_FOUND");
  });

  test("extendTimeout defaults to the creation duration and refuses for session sandboxes", async () => {
    await using timed = await Sandbox.create({ ...conn, timeout: "5m" });
    await timed.extendTimeout();
    assert.deepEqual(daemon.requests.at(-1)?.body, { extendBy: "5m" });
    await timed.extendTimeout("1h");
    assert.deepEqual(daemon.requests.at(-1)?.body, { extendBy: "1h" });
    await using session = await Sandbox.create(conn);
    await assert.rejects(session.extendTimeout(), InvalidArgumentError);
  });

  test("the global WebSocket path authenticates with subprotocols", async () => {
    // Node 20 exposes globalThis.WebSocket only behind a flag; run a child with it.
    const script = `
      const { Sandbox } = await import(${JSON.stringify(new URL("./index.js", import.meta.url).href)});
      if (typeof WebSocket !== "function") throw new Error("no global WebSocket");
      const sandbox = await Sandbox.create({ url: process.env.U, token: process.env.T });
      const out = await sandbox.sh\`print:native\`.text();
      await sandbox.kill();
      console.log(out);`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--experimental-websocket", "--no-warnings", "--input-type=module", "-e", script],
        { env: { ...process.env, U: daemon.url, T: daemon.token }, cwd: fileURLToPath(new URL(".", import.meta.url)) },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    assert.equal(stdout.trim(), "native");
  });
});
