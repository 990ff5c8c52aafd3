/**
 * Deno's own client against Atoll (issue 15, "Wire compatibility"): the real `@deno/sandbox`
 * 0.13.2 pointed at a test daemon through DENO_SANDBOX_ENDPOINT / DENO_DEPLOY_ENDPOINT and an
 * Atoll token, running Deno-style programs with nothing changed; each asserts what Deno documents
 * (its d.ts examples). docs/deno-wire-protocol.md describes the protocol; the corpus
 * (deno-corpus.itest.ts) runs the ordinary programs, these are the protocol-level checks.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Client, Sandbox, SandboxCommandError } from "@deno/sandbox";
import WebSocket from "ws";
import { denoClientEnv, useDaemonFromEnv } from "./e2e-helpers.js";

// Deno's client finds the daemon through its own variables.
const ctx = useDaemonFromEnv(denoClientEnv);

test("deno client: sh`…`.text() returns stdout untouched, in bash, with a Deno-form id", async () => {
  await using sandbox = await Sandbox.create();
  assert.match(sandbox.id, /^sbx_[a-z]{3}_[0-9a-hjkmnp-z]{20}$/);
  assert.equal(await sandbox.sh`echo "hello world"`.text(), "hello world\n");
  assert.equal(await sandbox.sh`a=(x y z); echo "\${#a[@]}"`.text(), "3\n");
});

test("deno client: a failed command throws SandboxCommandError with the exit code; noThrow hands back the status", async () => {
  await using sandbox = await Sandbox.create();
  await assert.rejects(sandbox.sh`exit 3`.result(), (e: unknown) => e instanceof SandboxCommandError && e.code === 3);
  const result = await sandbox.sh`exit 1`.noThrow();
  assert.equal(result.status.success, false);
  assert.equal(result.status.code, 1);
});

test("deno client: kill(SIGKILL) ends a process with signal SIGKILL", async () => {
  await using sandbox = await Sandbox.create();
  const child = await sandbox.spawn("sleep", { args: ["100"] });
  await child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  assert.equal(status.code, 137);
});

test("deno client: env on create and env.set/get/delete reach commands", async () => {
  await using sandbox = await Sandbox.create({ env: { GREETING: "hi" } });
  assert.equal(await sandbox.env.get("GREETING"), "hi");
  await sandbox.env.set("NAME", "atoll");
  assert.equal(await sandbox.sh`echo "$GREETING $NAME"`.text(), "hi atoll\n");
  await sandbox.env.delete("NAME");
  assert.equal(await sandbox.env.get("NAME"), undefined);
  assert.equal((await sandbox.env.toObject()).GREETING, "hi");
});

test("deno client: fs.upload a directory and fs.download it back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "deno-wire-"));
  try {
    mkdirSync(join(dir, "proj/src"), { recursive: true });
    writeFileSync(join(dir, "proj/src/main.ts"), "console.log(1)\n");
    writeFileSync(join(dir, "proj/README"), "readme\n");
    await using sandbox = await Sandbox.create();
    await sandbox.fs.upload(join(dir, "proj"), "/tmp");
    assert.equal(await sandbox.sh`cat /tmp/proj/src/main.ts /tmp/proj/README`.text(), "console.log(1)\nreadme\n");
    await sandbox.fs.download("/tmp/proj/src/main.ts", join(dir, "main.ts"));
    assert.equal(readFileSync(join(dir, "main.ts"), "utf8"), "console.log(1)\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("deno client: Sandbox.connect joins a running sandbox; kill() ends it and closes the connection", async () => {
  const sandbox = await Sandbox.create({ timeout: "5m" });
  await sandbox.fs.writeTextFile("/tmp/mark", "here");
  const again = await Sandbox.connect({ id: sandbox.id });
  assert.equal(again.id, sandbox.id);
  assert.equal(await again.fs.readTextFile("/tmp/mark"), "here");
  const until = await sandbox.extendTimeout("10m");
  assert.ok(until instanceof Date && until.getTime() > Date.now() + 9 * 60_000);
  await sandbox.kill();
  await again.closed;
  await assert.rejects(Sandbox.connect({ id: sandbox.id }), /SANDBOX_NOT_RUNNING|not running/i);
});

test("deno client: volumes create/get/list/delete through new Client(), mounted as a record", async () => {
  const client = new Client();
  const volume = await client.volumes.create({ slug: "deno-wire-vol", region: "ord", capacity: "1GiB" });
  assert.equal(volume.slug, "deno-wire-vol");
  assert.equal(volume.capacity, 2 ** 30);
  assert.equal((await client.volumes.get("deno-wire-vol"))?.id, volume.id);
  assert.equal(await client.volumes.get("no-such-volume"), null);
  const list = await client.volumes.list();
  assert.ok(list.items.some((v) => v.id === volume.id));
  const writer = await Sandbox.create({ volumes: { "/data": "deno-wire-vol" } });
  await writer.sh`echo kept > /data/f`;
  await writer.kill();
  const reader = await Sandbox.create({ volumes: { "/data": volume.id } });
  assert.equal(await reader.fs.readTextFile("/data/f"), "kept\n");
  await reader.kill();
  await client.volumes.delete(volume.id);
  assert.equal(await client.volumes.get(volume.id), null);
});

test("deno client: sandboxes.list filters by label", async () => {
  await using sandbox = await Sandbox.create({ labels: { suite: "deno-wire" } });
  const listed = await new Client().sandboxes.list({ labels: { suite: "deno-wire" } });
  assert.deepEqual(
    listed.filter((s) => s.status === "running").map((s) => s.id),
    [sandbox.id],
  );
});

test("deno client: a wrong token is refused with InvalidTokenError and creates nothing", async () => {
  const before = (await ctx.client.listSandboxes()).length;
  await assert.rejects(Sandbox.create({ token: "atl_wrong", org: "x" }), (e: Error) => e.name === "InvalidTokenError");
  assert.equal((await ctx.client.listSandboxes()).length, before);
});

test("deno protocol: garbage ends only its own connection (4000, 4001), the sandbox and daemon go on", async () => {
  await using sandbox = await Sandbox.create();
  const url = `${ctx.daemon.url.replace(/^http/, "ws")}/api/v3/sandbox/${sandbox.id}/connect`;
  for (const [payload, code] of [
    ["{not json", 4000],
    [JSON.stringify({ hello: 1 }), 4001],
  ] as const) {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ctx.daemon.token}` } });
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(payload);
    const closeCode = await new Promise<number>((resolve) => ws.once("close", (c) => resolve(c)));
    assert.equal(closeCode, code);
  }
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ctx.daemon.token}` } });
  await new Promise((resolve) => ws.once("open", resolve));
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "spawn", params: { command: 5 } }));
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "noSuchMethod" }));
  const replies = await new Promise<{ id: number; error: { code: number } }[]>((resolve) => {
    const got: { id: number; error: { code: number } }[] = [];
    ws.on("message", (d) => {
      got.push(JSON.parse(String(d)));
      if (got.length === 2) resolve(got);
    });
  });
  ws.close();
  assert.deepEqual(replies.map((r) => [r.id, r.error.code]).sort(), [
    [1, -32602],
    [2, -32601],
  ]);
  assert.equal(await sandbox.sh`echo still`.text(), "still\n");
});
