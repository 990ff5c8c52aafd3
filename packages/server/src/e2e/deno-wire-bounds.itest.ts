/**
 * The bounds of Deno's wire protocol (deno-api/rpc-connection.ts, rpc-streams.ts) against a
 * hostile raw WebSocket client: more than REQUESTS_IN_FLIGHT_MAX requests in flight are refused
 * one by one, more than INBOUND_STREAMS_MAX inbound streams or INBOUND_UNCLAIMED_MAX unclaimed
 * stream bytes end that connection (1008). Each time the sandbox, a neighbour and the daemon go on.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { REQUESTS_IN_FLIGHT_MAX } from "../deno-api/rpc-connection.js";
import { INBOUND_STREAMS_MAX, INBOUND_UNCLAIMED_MAX } from "../deno-api/rpc-streams.js";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

interface Reply {
  id?: number;
  result?: unknown;
  error?: { code: number; message: string };
}

/** A raw connection to `sandboxId` that collects the replies it gets. */
async function connect(sandboxId: string): Promise<{ ws: WebSocket; replies: Reply[]; closed: Promise<number> }> {
  const url = `${ctx.daemon.url.replace(/^http/, "ws")}/api/v3/sandbox/${sandboxId}/connect`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ctx.daemon.token}` } });
  const replies: Reply[] = [];
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as Reply & { method?: string };
    if (m.id !== undefined) replies.push(m);
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return { ws, replies, closed };
}

/** A round trip: a request answered (with an error) once everything sent before it was read. */
async function roundTrip(c: { ws: WebSocket; replies: Reply[] }, id: number): Promise<void> {
  c.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method: "processWait", params: { pid: 999_999 } }));
  await until(`the reply to ${id}`, () => c.replies.some((r) => r.id === id));
}

/** Proves the refusals came from the bound: one more request, read after them all, is refused too. */
async function roundTripRefused(ws: WebSocket, replies: Reply[]): Promise<void> {
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 100_000, method: "processWait", params: { pid: 999_999 } }));
  await until("the last refusal", () => replies.some((r) => r.id === 100_000));
  assert.equal(replies.find((r) => r.id === 100_000)?.error?.code, -32000);
}

const notify = (ws: WebSocket, method: string, params: unknown) => ws.send(JSON.stringify({ jsonrpc: "2.0", method, params }));

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `timed out waiting for ${what}`);
}

/** The sandbox under attack and a neighbour still answer; so does the daemon. */
async function stillWorking(...ids: string[]): Promise<void> {
  for (const id of ids) {
    const sandbox = await ctx.client.connectSandbox(id);
    assert.equal(await sandbox.sh`echo ok`.text(), "ok\n");
    await sandbox.close();
  }
  assert.ok((await ctx.client.listSandboxes()).length >= ids.length);
}

test(`more than ${REQUESTS_IN_FLIGHT_MAX} requests in flight: the extra ones are refused, the rest of the daemon goes on`, async () => {
  const target = await ctx.client.createSandbox({ timeout: "10m" });
  const neighbour = await ctx.client.createSandbox({ timeout: "10m" });
  try {
    const { ws, replies } = await connect(target.id);
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "spawn", params: { command: "sleep", args: ["300"], stdout: "null", stderr: "null" } }));
    await until("the spawn reply", () => replies.some((r) => r.id === 0));
    const spawned = replies.find((r) => r.id === 0)!.result as { ok: { pid: number } };
    const pid = spawned.ok.pid;
    assert.ok(pid > 0);
    // processWait on a sleeping process stays in flight; the ones past the bound get -32000.
    const extra = 20;
    for (let i = 1; i <= REQUESTS_IN_FLIGHT_MAX + extra; i++) ws.send(JSON.stringify({ jsonrpc: "2.0", id: i, method: "processWait", params: { pid } }));
    await until("the refusals", () => replies.filter((r) => r.error?.code === -32000).length === extra);
    await roundTripRefused(ws, replies);
    assert.equal(replies.length, 2 + extra, "the waits within the bound are still in flight");
    assert.match(replies.find((r) => r.error)!.error!.message, new RegExp(`More than ${REQUESTS_IN_FLIGHT_MAX} requests in flight`));
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    await stillWorking(target.id, neighbour.id);
  } finally {
    await target.kill();
    await neighbour.kill();
  }
});

test(`more than ${INBOUND_STREAMS_MAX} inbound streams end that connection only`, async () => {
  const target = await ctx.client.createSandbox({ timeout: "10m" });
  const neighbour = await ctx.client.createSandbox({ timeout: "10m" });
  try {
    const other = await connect(target.id);
    const attacker = await connect(target.id);
    const { ws, closed } = attacker;
    for (let i = 0; i < INBOUND_STREAMS_MAX; i++) notify(ws, "$sandbox.stream.start", { streamId: i });
    await roundTrip(attacker, 1); // at the bound the connection still works
    notify(ws, "$sandbox.stream.start", { streamId: INBOUND_STREAMS_MAX });
    assert.equal(await closed, 1008);
    assert.equal(other.ws.readyState, WebSocket.OPEN, "another connection to the same sandbox stays open");
    other.ws.close();
    await stillWorking(target.id, neighbour.id);
  } finally {
    await target.kill();
    await neighbour.kill();
  }
});

test(`more than ${INBOUND_UNCLAIMED_MAX} bytes on unclaimed streams end that connection only`, async () => {
  const target = await ctx.client.createSandbox({ timeout: "10m" });
  const neighbour = await ctx.client.createSandbox({ timeout: "10m" });
  try {
    const attacker = await connect(target.id);
    const { ws, closed } = attacker;
    notify(ws, "$sandbox.stream.start", { streamId: 1 });
    const chunk = Buffer.alloc(1024 * 1024, 7).toString("base64");
    // Exactly the bound is kept (the connection still answers), one byte more ends it.
    for (let sent = 0; sent < INBOUND_UNCLAIMED_MAX; sent += 1024 * 1024) notify(ws, "$sandbox.stream.enqueue", { streamId: 1, data: chunk });
    await roundTrip(attacker, 1);
    notify(ws, "$sandbox.stream.enqueue", { streamId: 1, data: Buffer.from([1]).toString("base64") });
    assert.equal(await closed, 1008);
    await stillWorking(target.id, neighbour.id);
  } finally {
    await target.kill();
    await neighbour.kill();
  }
});
