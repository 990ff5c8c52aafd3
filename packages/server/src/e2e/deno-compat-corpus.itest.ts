/**
 * A first compatibility corpus (issue 15): programs in Deno Sandbox 0.13.2's style, taken from
 * its d.ts examples and documentation, with only the import line changed from "@deno/sandbox" to
 * "atoll", each asserting what Deno documents. They find the daemon through ATOLL_URL and
 * ATOLL_TOKEN, as a user's program would. docs/deno-compatibility.md lists every API point.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Client, KillController, Sandbox, SandboxCommandError } from "atoll";
import { useDaemonFromEnv } from "./e2e-helpers.js";

useDaemonFromEnv();

test("deno: sh`…`.text() returns stdout with its newline", async () => {
  await using sandbox = await Sandbox.create();
  const output = await sandbox.sh`echo "hello world"`.text();
  assert.equal(output, "hello world\n");
});

test("deno: sh`…`.json() parses stdout", async () => {
  await using sandbox = await Sandbox.create();
  const data = await sandbox.sh`echo '{"key": "value"}'`.json<{ key: string }>();
  assert.equal(data.key, "value");
});

test("deno: noThrow() hands back a failed status", async () => {
  await using sandbox = await Sandbox.create();
  const result = await sandbox.sh`exit 1`.noThrow();
  assert.equal(result.status.success, false);
  assert.equal(result.status.code, 1);
});

test("deno: a failed command throws SandboxCommandError whose code is the exit code, without the command", async () => {
  await using sandbox = await Sandbox.create();
  const token = "s3cr3t-token";
  await assert.rejects(sandbox.sh`test ${token} = other || exit 3`, (e: unknown) => {
    assert.ok(e instanceof SandboxCommandError);
    assert.equal(e.code, 3);
    assert.doesNotMatch(e.message, /s3cr3t-token/);
    return true;
  });
});

test("deno: result() with piped stdout has status, bytes and text", async () => {
  await using sandbox = await Sandbox.create();
  const result = await sandbox.sh`echo "hello"`.stdout("piped").result();
  assert.equal(result.status.success, true);
  assert.ok(result.stdout instanceof Uint8Array);
  assert.equal(result.stdoutText, "hello\n");
});

test("deno: sh runs bash (arrays, [[ ]], $BASH_VERSION)", async () => {
  await using sandbox = await Sandbox.create();
  const out = await sandbox.sh`a=(x y z); [[ -n $BASH_VERSION ]] && echo "\${#a[@]} \${a[1]}"`.text();
  assert.equal(out, "3 y\n");
});

test("deno: KillController sends SIGTERM to a running command", async () => {
  await using sandbox = await Sandbox.create();
  const controller = new KillController();
  const cmd = sandbox.sh`sleep 10`.signal(controller.signal);
  const promise = cmd.text();
  controller.kill("SIGTERM"); // Kill the process with SIGTERM
  await assert.rejects(promise, (e: unknown) => e instanceof SandboxCommandError && e.code === 143);
  assert.equal(controller.signal.aborted, true);
});

test("deno: spawn() and output() with stdoutText", async () => {
  await using sandbox = await Sandbox.create();
  const child = await sandbox.spawn("echo", { args: ["hi there"], stdout: "piped", stderr: "piped" });
  const output = await child.output();
  assert.equal(output.status.success, true);
  assert.equal(output.stdoutText, "hi there\n");
  assert.equal(output.stderrText, "");
});

test("deno: client.volumes.create with slug, region and capacity; volumes as a record", async () => {
  const client = new Client();
  const volume = await client.volumes.create({ slug: "corpus-cache", region: "ord", capacity: "300MB" });
  assert.equal(volume.slug, "corpus-cache");
  assert.ok(volume.capacity >= 300_000_000, String(volume.capacity));
  {
    await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data/cache": volume.slug } });
    await sandbox.sh`echo persisted > /data/cache/x`;
  }
  {
    await using sandbox = await Sandbox.create({ volumes: { "/data/cache": volume.id } });
    assert.equal(await sandbox.sh`cat /data/cache/x`.text(), "persisted\n");
  }
  assert.equal((await client.volumes.get("corpus-cache"))?.id, volume.id);
  const listed = await client.volumes.list();
  assert.ok(listed.items.some((v) => v.slug === "corpus-cache"));
  await client.volumes.delete(volume.slug);
  assert.equal(await client.volumes.get("corpus-cache"), null);
});

test("deno: env and fs", async () => {
  await using sandbox = await Sandbox.create({ env: { GREETING: "hello" } });
  await sandbox.env.set("NAME", "deno");
  assert.equal(await sandbox.sh`echo "$GREETING $NAME"`.text(), "hello deno\n");
  await sandbox.fs.writeTextFile("hello.txt", "hi");
  assert.equal(await sandbox.fs.readTextFile("hello.txt"), "hi");
});

test("deno: extendTimeout resolves to a Date; connect({ id }) reaches the sandbox", async () => {
  const sandbox = await Sandbox.create({ timeout: "5m" });
  try {
    const stopAt = await sandbox.extendTimeout("10m");
    assert.ok(stopAt instanceof Date);
    assert.ok(stopAt.getTime() > Date.now() + 9 * 60_000);
    await using again = await Sandbox.connect({ id: sandbox.id });
    assert.equal(await again.sh`echo connected`.text(), "connected\n");
  } finally {
    await sandbox.kill();
  }
});

test("deno: await using on a fixed-timeout sandbox only closes the connection", async () => {
  const client = new Client();
  let id = "";
  {
    await using sandbox = await client.sandboxes.create({ timeout: "5m", labels: { corpus: "timed" } });
    id = sandbox.id;
  }
  const [meta] = await client.sandboxes.list({ labels: { corpus: "timed" } });
  assert.equal(meta?.id, id);
  assert.equal(meta?.status, "running");
  await using again = await client.sandboxes.connect(id, {});
  await again.kill();
});

test("deno: fs.upload of a directory to an existing directory creates it there", async () => {
  const local = mkdtempSync(join(tmpdir(), "atoll-deno-upload-"));
  try {
    mkdirSync(join(local, "source-dir/nested"), { recursive: true });
    writeFileSync(join(local, "source-dir/nested/file.txt"), "uploaded");
    await using sandbox = await Sandbox.create();
    await sandbox.fs.upload(join(local, "source-dir"), ".");
    assert.equal(await sandbox.fs.readTextFile("source-dir/nested/file.txt"), "uploaded");
    await sandbox.fs.mkdir("dest-dir");
    await sandbox.fs.upload(join(local, "source-dir"), "./dest-dir");
    assert.equal(await sandbox.fs.readTextFile("dest-dir/source-dir/nested/file.txt"), "uploaded");
  } finally {
    rmSync(local, { recursive: true, force: true });
  }
});
