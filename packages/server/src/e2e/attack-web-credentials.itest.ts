/**
 * Attack suite, credentials and per-client limits (issue 10 item 12; docs/api.md "Limits",
 * docs/dashboard.md, docs/tenants.md): a revoked token's session socket and event stream are
 * cut; a logged-out cookie is refused everywhere (copies too) and its stream ends; secret values
 * never reach the command log; session sockets per token, connections per address and slow
 * requests are capped. The daemon runs with small limits so the caps are reached quickly.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, secret } from "atoll";
import { WebSocket } from "ws";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { openStream, sessionSocket, slowRequest, tcpConnections } from "./web-client-helpers.js";
import { startHostileServer } from "./web-attack-helpers.js";
import { killOnDispose } from "./e2e-helpers.js";

const LIMITS = {
  ATOLL_MAX_SESSIONS_PER_TOKEN: "4",
  ATOLL_MAX_CONNECTIONS_PER_ADDRESS: "48",
  ATOLL_PUBLIC_REQUEST_TIMEOUT: "2s",
  ATOLL_EXPOSE_REQUEST_TIMEOUT: "3s",
  ATOLL_HEADERS_TIMEOUT: "2s",
};
const ctx = {} as { daemon: TestDaemon; client: Client };
before(async () => {
  ctx.daemon = await startTestDaemon({ env: LIMITS });
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
});
after(() => ctx.daemon?.dispose());

const since = (t0: number) => `${Date.now() - t0} ms`;

test("revoking a token cuts its open session socket and event stream", async () => {
  const { id, token } = await ctx.client.admin.createToken({ tenant: "team-revoke", name: "soon revoked" });
  const tenant = new Client({ url: ctx.daemon.url, token });
  // Not `await using`: the token that could kill it is revoked below; the daemon's stop ends it.
  const sb = await tenant.createSandbox({ timeout: "5m" });
  const socket = await sessionSocket(ctx.daemon.url, sb.id, token);
  const ran = await socket.run("/bin/echo", ["hi"]); // proof: the socket runs commands
  const stream = await openStream(`${ctx.daemon.url}/ui/events`, { authorization: `Bearer ${token}` });
  const t0 = Date.now();
  await ctx.client.admin.revokeToken(id);
  const [socketEnd, streamEnd] = await Promise.all([socket.whenClosed(), stream.ended]);
  const after = await socket.run("/bin/echo", ["again"]).catch((e: Error) => e.message);
  const reopen = await sessionSocket(ctx.daemon.url, sb.id, token).then(
    async (s) => {
      await s.close();
      return "opened";
    },
    (e: Error) => e.message,
  );
  await sb.close().catch(() => undefined);
  const rows: AttackRow[] = [
    {
      area: "credentials",
      attack: "revoked token's session socket keeps running commands",
      as: "tenant",
      expected: "socket closed at once",
      observed: `ran ${ran} before; closed ${socketEnd === "closed" ? `after ${since(t0)}` : socketEnd}; then: ${after}`,
      held: ran === "exit 0" && socketEnd === "closed" && after !== "exit 0",
    },
    {
      area: "credentials",
      attack: "revoked token's event stream keeps flowing",
      as: "tenant",
      expected: "stream ended at once",
      observed: `${stream.firstChunk ? "flowing" : "silent"} before; ${streamEnd === "ended" ? `ended after ${since(t0)}` : streamEnd}`,
      held: stream.firstChunk && streamEnd === "ended",
    },
    { area: "credentials", attack: "revoked token opens a new session socket", as: "tenant", expected: "401", observed: reopen, held: /401/.test(reopen) },
  ];
  reportAttacks("Credentials: revocation", rows);
  assert.deepEqual(broken(rows), []);
});

/** Logs in through the form; returns the cookie pair `atoll_session=…`. */
async function login(token: string): Promise<string> {
  const res = await fetch(`${ctx.daemon.url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `token=${token}`,
  });
  assert.equal(res.status, 303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

test("a logged-out cookie is refused at once, copies too, and its event stream ends", async () => {
  const cookie = await login(ctx.daemon.token);
  const copy = `${cookie}`;
  const other = await login(ctx.daemon.token);
  const read = (c: string) => fetch(`${ctx.daemon.url}/v1/volumes`, { headers: { cookie: c } }).then((r) => r.status);
  const before = await read(copy);
  const stream = await openStream(`${ctx.daemon.url}/ui/events`, { cookie });
  const out = await fetch(`${ctx.daemon.url}/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: ctx.daemon.url } });
  const [afterCopy, afterOther, streamEnd] = await Promise.all([read(copy), read(other), stream.ended]);
  const relogin = await fetch(`${ctx.daemon.url}/`, { redirect: "manual", headers: { cookie: copy } }).then((r) => `${r.status} ${r.headers.get("location")}`);
  const rows: AttackRow[] = [
    {
      area: "credentials",
      attack: "copy of a logged-out dashboard cookie",
      as: "operator's cookie thief",
      expected: "401 after logout",
      observed: `${before} before, logout ${out.status}, ${afterCopy} after; dashboard: ${relogin}`,
      held: before === 200 && out.status === 303 && afterCopy === 401 && relogin === "303 /login",
    },
    {
      area: "credentials",
      attack: "event stream of a logged-out session",
      as: "operator's cookie thief",
      expected: "ended",
      observed: streamEnd,
      held: stream.firstChunk && streamEnd === "ended",
    },
    {
      area: "credentials",
      attack: "control: another login of the same token",
      as: "operator",
      expected: "200",
      observed: String(afterOther),
      held: afterOther === 200,
    },
  ];
  reportAttacks("Credentials: logout", rows);
  assert.deepEqual(broken(rows), []);
});

test("secret values never reach the command log shown to the tenant's other tokens", async () => {
  const SANDBOX_SECRET = "sk-live-sandbox-7f3a9c";
  const MARKED = "ghp_marked-by-the-sdk-41e2";
  await using sb = killOnDispose(
    await ctx.client.createSandbox({ timeout: "5m", secrets: { API_KEY: { hosts: ["api.example.com"], value: SANDBOX_SECRET } } }),
  );
  // A careless script interpolates the secret's value itself; a careful one marks it.
  await sb.sh`echo ${`Authorization: Bearer ${SANDBOX_SECRET}`} > /dev/null`;
  const marked = (await sb.sh`printf %s ${secret(MARKED)}`.text()).trimEnd();
  const failed = await sb.sh`test ${secret(MARKED)} = nope`.then(
    () => "succeeded",
    (e: Error) => e.message,
  );
  await sb.sh`echo ${"visible-control"}`.stdout("null");
  const { token } = await ctx.client.admin.createToken({ tenant: "default", name: "log reader" });
  const res = await fetch(`${ctx.daemon.url}/v1/sandboxes/${sb.id}/commands`, { headers: { authorization: `Bearer ${token}` } });
  const log = JSON.stringify(await res.json());
  const rows: AttackRow[] = [
    {
      area: "credentials",
      attack: "sandbox secret's value typed into sh",
      as: "tenant's other token",
      expected: "[secret] in the log",
      observed: log.includes(SANDBOX_SECRET) ? "value in the log" : log.includes("Bearer [secret]") ? "Bearer [secret]" : "missing entry",
      held: !log.includes(SANDBOX_SECRET) && log.includes("Bearer [secret]"),
    },
    {
      area: "credentials",
      attack: "value marked secret() in sh",
      as: "tenant's other token",
      expected: '"$ATOLL_SH_SECRET_0" in the log and errors',
      observed: `${log.includes(MARKED) ? "value in the log" : "not in the log"}; error: ${failed.includes(MARKED) ? "value" : "no value"}`,
      held: !log.includes(MARKED) && log.includes("$ATOLL_SH_SECRET_0") && !failed.includes(MARKED),
    },
    // Proof the probes work: the command got the value, and the log records what is not secret.
    {
      area: "credentials",
      attack: "control: the command received the marked value; plain values are logged",
      as: "tenant",
      expected: "value; visible-control",
      observed: `${marked === MARKED ? "value" : marked}; ${log.includes("visible-control") ? "visible-control" : "missing"}`,
      held: marked === MARKED && log.includes("visible-control"),
    },
  ];
  reportAttacks("Credentials: command log", rows);
  assert.deepEqual(broken(rows), []);
});

test("session sockets per token, connections per address and slow requests are capped", async () => {
  const rows: AttackRow[] = [];
  const { token } = await ctx.client.admin.createToken({ tenant: "team-cap", name: "greedy" });
  const greedy = new Client({ url: ctx.daemon.url, token });
  await using sb = killOnDispose(await greedy.createSandbox({ timeout: "5m" }));
  const opened: Awaited<ReturnType<typeof sessionSocket>>[] = [];
  let refusal = "";
  for (let i = 0; i < 10 && refusal === ""; i++) {
    await sessionSocket(ctx.daemon.url, sb.id, token).then(
      (s) => opened.push(s),
      (e: Error) => (refusal = e.message),
    );
  }
  const before = opened.length;
  await opened.pop()?.close();
  const freed = await sessionSocket(ctx.daemon.url, sb.id, token).then(
    (s) => {
      opened.push(s);
      return "opened";
    },
    (e: Error) => e.message,
  );
  await Promise.all(opened.map((s) => s.close()));
  rows.push({
    area: "limits",
    attack: "open session sockets on one token without end",
    as: "tenant",
    expected: "at most 4 (429 QUOTA_EXCEEDED), a closed one frees a place",
    observed: `${before} opened + the SDK's; then ${refusal.slice(0, 40)}; after closing one: ${freed}`,
    held: before <= 3 && /429.*QUOTA_EXCEEDED/.test(refusal) && freed === "opened",
  });

  const api = new URL(ctx.daemon.url);
  const flood = await tcpConnections(api.hostname, Number(api.port), 64);
  const health = await fetch(`${ctx.daemon.url}/healthz`).then(
    (r) => r.status,
    (e: Error) => e.message,
  );
  rows.push({
    area: "limits",
    attack: "64 idle connections to the API from one address",
    as: "anyone",
    expected: "at most 48 kept; served again once they go",
    observed: `${flood.kept} kept, ${flood.cut} cut; a kept one answered ${flood.answered}; later /healthz ${health}`,
    held: flood.kept <= 48 && flood.cut >= 16 && flood.answered === "200" && health === 200,
  });

  const loginBody = "token=not-the-token";
  const fastLogin = await fetch(`${ctx.daemon.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: loginBody,
  }).then((r) => r.status);
  const slowLogin = await slowRequest(
    api.hostname,
    Number(api.port),
    `POST /login HTTP/1.1\r\nHost: ${api.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`,
    1000,
  );
  rows.push({
    area: "limits",
    attack: "POST /login with a body sent 1 byte at a time",
    as: "anyone",
    expected: "cut after ~2 s (control: whole body answered 401)",
    observed: `cut after ${slowLogin.sent} of 1000 bytes, ${slowLogin.ms} ms; control ${fastLogin}`,
    held: slowLogin.sent < 1000 && fastLogin === 401,
  });

  const slowHead = await slowRequest(api.hostname, Number(api.port), "GET /healthz HTTP/1.1\r\n", 1000, "X");
  rows.push({
    area: "limits",
    attack: "request head sent 1 byte at a time",
    as: "anyone",
    expected: "cut after ~2 s",
    observed: `cut after ${slowHead.sent} bytes, ${slowHead.ms} ms${slowHead.answer ? `: ${slowHead.answer}` : ""}`,
    held: slowHead.sent < 1000,
  });

  await startHostileServer(sb, 8000);
  const url = new URL(await sb.exposeHttp({ port: 8000 }));
  const fastPost = await fetch(`${url}echo`, { method: "POST", body: "x".repeat(1000) }).then((r) => r.status);
  const slowPost = await slowRequest(
    url.hostname,
    Number(url.port),
    `POST ${url.pathname}echo HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000\r\n\r\n`,
    1000,
  );
  rows.push({
    area: "limits",
    attack: "POST to an exposed port with a body sent 1 byte at a time",
    as: "anyone with the URL",
    expected: "cut after ~3 s (control: whole body answered)",
    observed: `cut after ${slowPost.sent} of 1000 bytes, ${slowPost.ms} ms${slowPost.answer ? `: ${slowPost.answer}` : ""}; control ${fastPost}`,
    held: slowPost.sent < 1000 && fastPost === 200,
  });
  const exposedFlood = await tcpConnections(url.hostname, Number(url.port), 64);
  rows.push({
    area: "limits",
    attack: "64 idle connections to an exposed port from one address",
    as: "anyone with the URL",
    expected: "at most 48 kept",
    observed: `${exposedFlood.kept} kept, ${exposedFlood.cut} cut`,
    held: exposedFlood.kept <= 48 && exposedFlood.cut >= 16,
  });

  reportAttacks("Limits: per client", rows);
  assert.deepEqual(broken(rows), []);
  // The daemon itself is fine: the sandbox still runs commands for its token.
  assert.equal((await sb.sh`echo ok`.text()).trimEnd(), "ok");
});

test("the session socket survives malformed client frames; only that socket can end", async () => {
  await using sb = killOnDispose(await ctx.client.createSandbox({ timeout: "5m" }));
  const ws = new WebSocket(`${ctx.daemon.url.replace("http:", "ws:")}/v1/sandboxes/${sb.id}/session`, {
    headers: { authorization: `Bearer ${ctx.daemon.token}` },
  });
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  const replies: string[] = [];
  ws.on("message", (d, binary) => binary || replies.push(d.toString()));
  for (const bad of [
    "{",
    "[]",
    "null",
    JSON.stringify({ type: "spawn", id: -1, cmd: "" }),
    JSON.stringify({ type: "signal", id: 99, signal: "NOPE" }),
    "x".repeat(100_000),
  ])
    ws.send(bad);
  ws.send(Buffer.from([9, 0, 0]));
  ws.send(Buffer.from([0, 0, 0, 0, 7, 1, 2]));
  await new Promise((r) => setTimeout(r, 500));
  const rows: AttackRow[] = [
    {
      area: "web",
      attack: "malformed session frames",
      as: "tenant",
      expected: "INVALID_ARGUMENT replies, daemon serving",
      observed: `${replies.filter((r) => r.includes("INVALID_ARGUMENT")).length} refusals; sandbox ${(await sb.sh`echo ok`.text()).trimEnd()}`,
      held: replies.some((r) => r.includes("INVALID_ARGUMENT")) && (await fetch(`${ctx.daemon.url}/healthz`)).status === 200,
    },
  ];
  ws.close();
  reportAttacks("Web: session frames", rows);
  assert.deepEqual(broken(rows), []);
});
