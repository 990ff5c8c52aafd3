/**
 * Property-based fuzzing of every route: malformed, oversized and random requests. The daemon
 * must never crash, never answer 5xx to bad input, and never change state on a request it
 * rejected. Nothing here leaves the machine: all requests go to the test daemon on loopback.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import WebSocket from "ws";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

interface Reply {
  status: number;
  body: unknown;
}

async function send(method: string, path: string, body?: string | Uint8Array, contentType = "application/json"): Promise<Reply> {
  // fetch refuses a body on GET (a client-side rule, not the daemon's).
  if (method === "GET") body = undefined;
  const headers: Record<string, string> = { authorization: `Bearer ${ctx.daemon.token}` };
  if (body !== undefined) headers["content-type"] = contentType;
  const r = await fetch(`${ctx.daemon.url}${path}`, { method, headers, body: body as BodyInit | undefined });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: parsed };
}

/** Everything a rejected request must leave as it was. */
async function state(sandboxId: string): Promise<string> {
  const volumes = (await send("GET", "/v1/volumes")).body as { volumes: { id: string; name: string; attachments: unknown[] }[] };
  const sandboxes = (await send("GET", "/v1/sandboxes")).body as { sandboxes: { id: string; state: string; expiresAt: string | null; volumes: unknown[] }[] };
  const env = (await send("GET", `/v1/sandboxes/${sandboxId}/env`)).body;
  const tokens = (await send("GET", "/v1/tokens")).body;
  const tenants = (await send("GET", "/v1/tenants")).body;
  return JSON.stringify({
    tokens,
    tenants,
    volumes: volumes.volumes.map((v) => [v.id, v.name, v.attachments]),
    sandboxes: sandboxes.sandboxes.map((s) => [s.id, s.state, s.expiresAt, s.volumes]),
    env,
  });
}

const weirdSegment = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("..", "%2e%2e", "%00", "sbx_", "vol_", "a".repeat(5000), "💥", "%ff%fe", "null", "undefined", "constructor", "__proto__"),
);

const jsonBody = fc.oneof(
  fc.anything().map((v) => JSON.stringify(v) ?? "null"),
  fc
    .record({
      name: fc.oneof(fc.string(), fc.constantFrom("ok-name", "", "UPPER")),
      sizeGb: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null)),
    })
    .map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        memory: fc.oneof(fc.string(), fc.integer(), fc.constant("1TiB")),
        timeout: fc.oneof(fc.string(), fc.integer()),
        volumes: fc.array(fc.record({ id: fc.string(), mountPath: fc.string(), accessMode: fc.string() }), { maxLength: 3 }),
        labels: fc.dictionary(fc.string(), fc.string()),
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }), // not JSON at all
  fc.constantFrom("{", "[]", '{"a":', "\u0000", '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}'),
);

test("random requests to every route: no crash, no 5xx, no state change when rejected", async () => {
  const { client } = ctx;
  const volume = await client.createVolume({ name: "fuzz-vol", sizeGb: 0.0625 });
  const sb = await client.createSandbox({ timeout: "10m", volumes: [{ id: volume.id, mountPath: "/fuzz" }] });
  const ids = fc.oneof(weirdSegment, fc.constantFrom(sb.id, volume.id, volume.name));
  const request = fc.oneof(
    fc.record({ method: fc.constant("POST"), path: fc.constant("/v1/volumes"), body: jsonBody }),
    fc.record({ method: fc.constant("POST"), path: fc.constant("/v1/sandboxes"), body: jsonBody }),
    fc.record({
      method: fc.constantFrom("GET", "DELETE"),
      path: weirdSegment.map((s) => `/v1/sandboxes/${encodeURIComponent(s)}`),
      body: fc.constant(undefined),
    }),
    fc.record({
      method: fc.constantFrom("GET", "DELETE"),
      path: weirdSegment.map((s) => `/v1/volumes/${encodeURIComponent(s)}`),
      body: fc.constant(undefined),
    }),
    fc.record({ method: fc.constant("POST"), path: ids.map((s) => `/v1/sandboxes/${encodeURIComponent(s)}/timeout`), body: jsonBody }),
    fc.record({ method: fc.constant("PATCH"), path: ids.map((s) => `/v1/sandboxes/${encodeURIComponent(s)}/env`), body: jsonBody }),
    fc.record({ method: fc.constant("POST"), path: ids.map((s) => `/v1/sandboxes/${encodeURIComponent(s)}/volumes`), body: jsonBody }),
    fc.record({
      method: fc.constant("DELETE"),
      path: fc.tuple(ids, weirdSegment).map(([a, b]) => `/v1/sandboxes/${encodeURIComponent(a)}/volumes/${encodeURIComponent(b)}?force=${b.length % 2 === 0}`),
      body: fc.constant(undefined),
    }),
    fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
      path: weirdSegment.map((s) => `/v1/${encodeURIComponent(s)}`),
      body: fc.option(jsonBody, { nil: undefined }),
    }),
    fc.record({ method: fc.constant("POST"), path: fc.constant("/v1/tokens"), body: jsonBody }),
    fc.record({ method: fc.constant("PUT"), path: weirdSegment.map((s) => `/v1/tenants/${encodeURIComponent(s)}/quota`), body: jsonBody }),
    fc.record({ method: fc.constant("DELETE"), path: weirdSegment.map((s) => `/v1/tokens/${encodeURIComponent(s)}`), body: fc.constant(undefined) }),
    fc.record({
      method: fc.constant("GET"),
      path: fc.string({ maxLength: 60 }).map((q) => `/v1/sandboxes?${encodeURIComponent(q)}=${encodeURIComponent(q)}&label=${encodeURIComponent(q)}`),
      body: fc.constant(undefined),
    }),
  );

  let accepted = 0;
  let rejected = 0;
  await fc.assert(
    fc.asyncProperty(request, async (req) => {
      const before = await state(sb.id);
      const reply = await send(req.method, req.path, req.body);
      assert.ok(
        reply.status < 500,
        `${req.method} ${req.path} ${String(req.body).slice(0, 200)} → ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`,
      );
      if (reply.status >= 400) {
        rejected++;
        const err = (reply.body as { error?: { code?: unknown; message?: unknown } }).error;
        assert.ok(typeof err?.code === "string" && typeof err.message === "string", `error body for ${req.method} ${req.path}: ${JSON.stringify(reply.body)}`);
        assert.equal(await state(sb.id), before, `${req.method} ${req.path} was rejected (${reply.status}) but changed state`);
      } else {
        accepted++;
        // A valid request may change state: undo what it created, so later checks start clean.
        const created = reply.body as { id?: string };
        if (req.path === "/v1/volumes" && req.method === "POST" && created.id) await client.deleteVolume(created.id, { force: true });
        if (req.path === "/v1/sandboxes" && req.method === "POST" && created.id) await client.killSandbox(created.id);
      }
    }),
    { numRuns: 400, seed: 20261128 },
  );
  assert.ok(rejected > 100, `rejected ${rejected}`);
  void accepted;

  // Oversized and mistyped bodies.
  const big = await send("POST", "/v1/volumes", JSON.stringify({ name: "x".repeat(3 * 2 ** 20), sizeGb: 1 }));
  assert.equal(big.status, 413);
  const binary = await send("POST", "/v1/volumes", new Uint8Array([0, 1, 2, 255]), "application/octet-stream");
  assert.ok(binary.status >= 400 && binary.status < 500, String(binary.status));
  const noType = await fetch(`${ctx.daemon.url}/v1/volumes`, { method: "POST", headers: { authorization: `Bearer ${ctx.daemon.token}` }, body: "{}" });
  assert.ok(noType.status >= 400 && noType.status < 500);

  // The daemon is alive and the fixtures are intact.
  assert.equal((await fetch(`${ctx.daemon.url}/healthz`)).status, 200);
  assert.equal((await sb.sh`echo alive`.text()).trimEnd(), "alive");
  assert.deepEqual(
    (await client.getVolume(volume.id)).attachments.map((a) => a.sandboxId),
    [sb.id],
  );
  await sb.kill();
  await client.deleteVolume(volume.id);
});

test("random session messages: the daemon stays up and the sandbox keeps working", async () => {
  const { client } = ctx;
  const sb = await client.createSandbox({ timeout: "5m" });
  const ws = new WebSocket(`${ctx.daemon.url.replace("http", "ws")}/v1/sandboxes/${sb.id}/session`, {
    headers: { authorization: `Bearer ${ctx.daemon.token}` },
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const message = fc.oneof(
    fc.anything().map((v) => JSON.stringify(v) ?? "null"),
    fc
      .record({
        type: fc.constantFrom("spawn", "stdin_close", "signal", "nope"),
        id: fc.oneof(fc.integer(), fc.double(), fc.string()),
        cmd: fc.string(),
        args: fc.anything(),
        signal: fc.anything(),
      })
      .map((v) => JSON.stringify(v)),
    fc.uint8Array({ maxLength: 64 }),
  );
  await fc.assert(
    fc.asyncProperty(message, async (m) => {
      ws.send(m);
    }),
    { numRuns: 300, seed: 7 },
  );
  await new Promise((r) => setTimeout(r, 500));
  ws.close();
  assert.equal((await fetch(`${ctx.daemon.url}/healthz`)).status, 200);
  assert.equal((await sb.sh`echo still-alive`.text()).trimEnd(), "still-alive");
  await sb.kill();
});
