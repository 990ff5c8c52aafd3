/**
 * The session WebSocket in process (@fastify/websocket's `injectWS` on the daemon's
 * buildHttpServer over the fake drivers): refusals before the upgrade, a process's life on the
 * wire (started, output frames, exit), protocol errors, and the stop notice. Against a real
 * daemon and runtime: api/sdk-e2e.itest.ts.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import { FRAME_STDOUT, decodeSessionFrame, encodeSessionFrame, FRAME_STDIN, type SessionServerMessage } from "atoll/contract";
import type WebSocket from "ws";
import { type FakeDaemon, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  // A refused upgrade keeps its "whole request within" timer until it fires: short, so the
  // test process can end soon after.
  d = await startFakeDaemon({ limits: { publicRequestTimeoutMs: 500 } });
});
const clients = new Set<WebSocket>();
after(async () => {
  // The injected streams never end on their own: without this, each side's close handshake
  // would wait for its 30-second timeout.
  for (const c of clients) c.terminate();
  for (const c of (d.app as unknown as { websocketServer: { clients: Set<WebSocket> } }).websocketServer.clients) c.terminate();
  await d.close();
});

type Received = { json: SessionServerMessage[]; stdout: string; closed?: number };

/** Opens a session socket with `token` and collects what the daemon sends. */
async function open(sandboxId: string, token = d.adminToken): Promise<{ ws: WebSocket; got: Received; until(cond: (r: Received) => boolean): Promise<void> }> {
  const got: Received = { json: [], stdout: "" };
  const waiters = new Set<() => void>();
  // injectWS hands the server a request without a TCP socket; the API's hooks watch the socket's
  // "close" (revocation, the per-token cap), so it gets a stand-in that closes with the client.
  const rawSocket = Object.assign(new EventEmitter(), { destroy: () => rawSocket.emit("close") });
  const ws = await (d.app as unknown as { injectWS(path: string, ctx: object, opts: object): Promise<WebSocket> }).injectWS(
    `/v1/sandboxes/${sandboxId}/session`,
    { headers: { authorization: `Bearer ${token}` }, socket: rawSocket },
    {
      onInit: (socket: WebSocket) => {
        socket.on("close", () => rawSocket.emit("close"));
        socket.on("message", (data: Buffer, isBinary: boolean) => {
          if (isBinary) {
            const frame = decodeSessionFrame(data);
            if (frame?.kind === FRAME_STDOUT) got.stdout += Buffer.from(frame.data).toString();
          } else got.json.push(JSON.parse(data.toString()) as SessionServerMessage);
          for (const w of waiters) w();
        });
        socket.on("close", (code: number) => {
          got.closed = code;
          for (const w of waiters) w();
        });
      },
    },
  );
  const until = (cond: (r: Received) => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (cond(got)) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  clients.add(ws);
  return { ws, got, until };
}

const createSandbox = async (body: object = {}) => ((await d.request("POST", "/v1/sandboxes", { body })).json() as { id: string }).id;

describe("session socket", () => {
  it("runs a process: started, its stdout, its exit; stdin frames reach it", async () => {
    const id = await createSandbox();
    const s = await open(id);
    s.ws.send(JSON.stringify({ type: "spawn", id: 1, cmd: "echo", args: ["hello"] }));
    await s.until((r) => r.json.some((m) => m.type === "exit"));
    assert.equal(s.got.stdout, "hello\n");
    assert.deepEqual(
      s.got.json.map((m) => m.type),
      ["started", "exit"],
    );
    assert.deepEqual((s.got.json[1] as { status: unknown }).status, { success: true, code: 0, signal: null, oom: false });

    s.ws.send(JSON.stringify({ type: "spawn", id: 2, cmd: "cat", stdin: true }));
    s.ws.send(encodeSessionFrame(FRAME_STDIN, 2, Buffer.from("piped")));
    s.ws.send(JSON.stringify({ type: "stdin_close", id: 2 }));
    await s.until((r) => r.json.filter((m) => m.type === "exit").length === 2);
    assert.equal(s.got.stdout, "hello\npiped");
    s.ws.terminate();
  });

  it("bad messages get an error on the socket, which stays open; a reused id is refused", async () => {
    const id = await createSandbox();
    const s = await open(id);
    s.ws.send("not json");
    s.ws.send(JSON.stringify({ type: "spawn", id: 7 }));
    s.ws.send(JSON.stringify({ type: "spawn", id: 8, cmd: "no-such-command" }));
    await s.until((r) => r.json.length === 3);
    assert.deepEqual(
      s.got.json.map((m) => [m.type, (m as { id?: number }).id, (m as { error?: { code: string } }).error?.code]),
      [
        ["error", -1, "INVALID_ARGUMENT"],
        ["error", 7, "INVALID_ARGUMENT"],
        ["error", 8, "INVALID_ARGUMENT"],
      ],
    );
    s.ws.send(JSON.stringify({ type: "spawn", id: 8, cmd: "true" }));
    await s.until((r) => r.json.length === 4);
    assert.match((s.got.json[3] as { error: { message: string } }).error.message, /already used/);
    assert.equal(s.got.closed, undefined);
    s.ws.terminate();
  });

  it("a kill tells the session why, then closes it; a session sandbox dies with its last socket", async () => {
    const id = await createSandbox();
    const s = await open(id);
    await d.request("DELETE", `/v1/sandboxes/${id}`);
    await s.until((r) => r.closed !== undefined);
    assert.deepEqual(
      s.got.json.map((m) => [m.type, (m as { reason?: string }).reason]),
      [["sandbox_stopped", "killed"]],
    );
    assert.equal(s.got.closed, 1000);

    const session = await createSandbox({ timeout: "session" });
    const t = await open(session);
    t.ws.terminate();
    for (let i = 0; i < 1000 && d.sandboxes.get("default", session).state !== "stopped"; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(d.sandboxes.get("default", session).stopReason, "session-closed");
  });

  it("refused before the upgrade: no token, another tenant's sandbox, a stopped one", async () => {
    const id = await createSandbox();
    await assert.rejects(open(id, "atl_wrong"), /401/);
    await assert.rejects(open(id, await d.tenantToken("someone-else")), /404/);
    await d.request("DELETE", `/v1/sandboxes/${id}`);
    await assert.rejects(open(id), /409/);
  });
});
