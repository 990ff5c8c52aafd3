/**
 * Deno Sandbox 0.13.2's names and meanings in the SDK (docs/deno-compatibility.md), checked on
 * what the SDK sends to the fake daemon and what it returns.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, InvalidArgumentError, KillController, Sandbox, SandboxCommandError } from "./index.js";
import { type FakeDaemon, startFakeDaemon } from "./testing/fake-daemon.js";

describe("Deno Sandbox compatibility", () => {
  let daemon: FakeDaemon;
  let conn: { url: string; token: string };
  before(async () => {
    daemon = await startFakeDaemon();
    conn = { url: daemon.url, token: daemon.token };
  });
  after(() => daemon?.stop());

  const lastCreate = () => daemon.requests.filter((r) => r.method === "POST" && r.path === "/v1/sandboxes").at(-1)?.body;

  test("volumes as a record become read-write mounts; region is accepted and not sent", async () => {
    await using _sandbox = await Sandbox.create({ ...conn, region: "ord", volumes: { "/data/cache": "my-cache", "/mnt/b": "vol_2" } });
    assert.deepEqual(lastCreate(), {
      volumes: [
        { id: "my-cache", mountPath: "/data/cache", accessMode: "rw" },
        { id: "vol_2", mountPath: "/mnt/b", accessMode: "rw" },
      ],
    });
  });

  test("client.volumes.create takes slug, region and a capacity string; bad slugs send nothing", async () => {
    const client = new Client(conn);
    const volume = await client.volumes.create({ slug: "my-cache", region: "ord", capacity: "1GiB" });
    assert.deepEqual(daemon.requests.at(-1)?.body, { name: "my-cache", sizeGb: 1 });
    assert.equal(volume.slug, "my-cache");
    assert.equal(volume.capacity, volume.capacityBytes);
    await client.volumes.create({ slug: "bytes-vol", region: "ams", capacity: 512 * 2 ** 20 });
    assert.deepEqual(daemon.requests.at(-1)?.body, { name: "bytes-vol", sizeGb: 0.5 });
    const count = daemon.requests.length;
    for (const slug of ["a", "-ab", "ab-", "ab--cd", "Upper", "under_score", "x".repeat(33)]) {
      await assert.rejects(client.volumes.create({ slug, region: "ord", capacity: "1GiB" }), InvalidArgumentError, slug);
    }
    await assert.rejects(client.volumes.create({ slug: "okay", region: "ord", capacity: "1 lot" }), InvalidArgumentError);
    assert.equal(daemon.requests.length, count);
    assert.equal((await client.volumes.get("my-cache"))?.id, volume.id);
    assert.equal(await client.volumes.get("no-such-volume"), null);
    const page = await client.volumes.list({ search: "cache" });
    assert.deepEqual(
      page.items.map((v) => v.slug),
      ["my-cache"],
    );
    assert.equal(page.hasMore, false);
    assert.equal(await page.getNextPage(), null);
    const iterated: string[] = [];
    for await (const v of await client.volumes.list()) iterated.push(v.slug);
    assert.deepEqual(iterated.sort(), ["bytes-vol", "my-cache"]);
    await client.volumes.delete("my-cache");
    assert.equal(await client.volumes.get("my-cache"), null);
  });

  test("volumes.create sends from; volumes.snapshot checks Deno's slug rule; root is sent as is", async () => {
    const client = new Client(conn);
    const volume = await client.volumes.create({ slug: "forked", region: "ord", capacity: "1GiB", from: "golden" });
    assert.deepEqual(daemon.requests.at(-1)?.body, { name: "forked", sizeGb: 1, from: "golden" });
    assert.equal(volume.isBootable, volume.bootable);
    assert.equal(volume.estimatedAllocatedSize, volume.usedBytes);
    assert.equal(volume.baseSnapshot, null);
    const count = daemon.requests.length;
    for (const slug of ["a", "ab--cd", "Upper"]) {
      await assert.rejects(client.volumes.snapshot("forked", { slug }), InvalidArgumentError, slug);
    }
    assert.equal(daemon.requests.length, count);
    await using _sandbox = await Sandbox.create({ ...conn, region: "ord", root: "my-image" });
    assert.deepEqual(lastCreate(), { root: "my-image" });
    await client.volumes.delete("forked");
  });

  test("client.sandboxes creates, connects and lists with Deno's metadata", async () => {
    const client = new Client(conn);
    await using sandbox = await client.sandboxes.create({ labels: { deno: "yes" }, region: "ams" });
    const meta = (await client.sandboxes.list({ labels: { deno: "yes" } })).find((m) => m.id === sandbox.id);
    assert.equal(meta?.id, sandbox.id);
    assert.equal(meta?.status, "running");
    assert.ok(meta?.createdAt instanceof Date);
    const again = await client.sandboxes.connect(sandbox.id, {});
    await again.close();
    const byObject = await Sandbox.connect({ id: sandbox.id, ...conn });
    assert.equal(byObject.id, sandbox.id);
    await byObject.close();
  });

  test("extendTimeout resolves to a Date", async () => {
    await using sandbox = await Sandbox.create({ ...conn, timeout: "5m" });
    const until = await sandbox.extendTimeout("10m");
    assert.ok(until instanceof Date);
    assert.ok(until.getTime() > Date.now());
    await sandbox.kill();
  });

  test("await using kills a session sandbox but only closes one with a fixed timeout", async () => {
    let sessionId = "";
    let timedId = "";
    {
      await using session = await Sandbox.create(conn);
      await using timed = await Sandbox.create({ ...conn, timeout: "5m" });
      sessionId = session.id;
      timedId = timed.id;
    }
    const client = new Client(conn);
    assert.equal((await client.getSandbox(sessionId)).state, "stopped");
    assert.equal((await client.getSandbox(timedId)).state, "running");
    await client.killSandbox(timedId);
  });

  test("a KillController's signal reaches the command; after an abort commands do not start", async () => {
    await using sandbox = await Sandbox.create(conn);
    const controller = new KillController();
    const running = sandbox.sh`sleep`.signal(controller.signal).noThrow().result();
    while (!daemon.messages.some((m) => m.type === "spawn" && (m.args as string[])[1] === "sleep")) await new Promise((r) => setTimeout(r, 10));
    controller.kill();
    const result = await running;
    assert.equal(result.status.signal, "SIGTERM");
    assert.equal(controller.signal.aborted, true);
    assert.equal(controller.signal.abortedExitCode, 143);
    const spawns = daemon.spawnCount();
    await assert.rejects(sandbox.sh`print:never`.signal(controller.signal).text(), (e: unknown) => {
      assert.ok(e instanceof SandboxCommandError);
      assert.equal(e.code, 143);
      return true;
    });
    assert.equal(daemon.spawnCount(), spawns);
  });

  test("a signalled command's SandboxCommandError code is 128 + the signal number", async () => {
    await using sandbox = await Sandbox.create(conn);
    const controller = new KillController();
    const running = sandbox.sh`sleep`.signal(controller.signal).result();
    const spawnsBefore = daemon.spawnCount();
    while (daemon.spawnCount() === spawnsBefore) await new Promise((r) => setTimeout(r, 10));
    controller.kill("SIGKILL");
    await assert.rejects(running, (e: unknown) => e instanceof SandboxCommandError && e.code === 137 && e.signal === "SIGKILL");
  });

  test("child.output() has stdoutText and stderrText (null when not piped)", async () => {
    await using sandbox = await Sandbox.create(conn);
    const child = await sandbox.spawn("/bin/bash", { args: ["-c", "print:hi\\n"], stdout: "piped", stderr: "null" });
    const output = await child.output();
    assert.equal(output.stdoutText, "hi\n");
    assert.equal(output.stderrText, null);
  });
});
