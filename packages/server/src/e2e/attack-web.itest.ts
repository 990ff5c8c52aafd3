/**
 * Attack suite, web (issue 10 items 2 and 11; docs/network.md "exposeHttp"): a hostile sandbox
 * server's response heads end only their own request, through an exposed port and through
 * sandbox.fetch; exposed URLs live on an origin of their own that Node's fetch, curl and
 * WebSocket clients reach; the caller's credentials for the daemon never reach the sandbox.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { Client, type Sandbox } from "atoll";
import { WebSocket } from "ws";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { FAULTS, daemonAlive, probe, startHostileServer, unguardedProxy } from "./web-attack-helpers.js";

const run = promisify(execFile);
const ctx = {} as { daemon: TestDaemon; client: Client; sb: Sandbox; url: string };
before(async () => {
  ctx.daemon = await startTestDaemon();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  ctx.sb = await ctx.client.createSandbox({ timeout: "15m", allowNet: [] });
  await startHostileServer(ctx.sb, 8000);
  ctx.url = await ctx.sb.exposeHttp({ port: 8000 });
});
after(async () => {
  await ctx.sb?.kill().catch(() => undefined);
  await ctx.daemon?.dispose();
});

/** The request headers the sandbox's echo server received, lower-cased names. */
function received(body: { headers: [string, string][] }): Record<string, string> {
  return Object.fromEntries(body.headers.map(([k, v]) => [k.toLowerCase(), v]));
}

test("a hostile server's response head ends only its own request: exposed port and sandbox.fetch", async () => {
  const rows: AttackRow[] = [];
  const unguarded = await unguardedProxy();
  try {
    for (const [fault, expected] of Object.entries(FAULTS)) {
      const before = await unguarded.outcome(fault);
      const viaExpose = await probe(`${ctx.url}fault/${fault}`);
      const aliveAfterExpose = await daemonAlive(ctx.daemon);
      let viaFetch: string;
      try {
        const res = await ctx.sb.fetch(`http://localhost:8000/fault/${fault}`);
        viaFetch = await res.arrayBuffer().then(
          () => String(res.status),
          () => `${res.status} then cut`,
        );
      } catch (err) {
        viaFetch = (err as { code?: string }).code ?? (err as Error).message;
      }
      const alive = aliveAfterExpose && (await daemonAlive(ctx.daemon));
      // "Cut": the head went out, then the body failed, so the connection was closed mid-answer
      // (the SDK reports CONNECTION_FAILED for a response cut off under it).
      const cut = (seen: string) => /then cut$|^no answer \(UND_ERR_SOCKET\)$|^CONNECTION_FAILED$/.test(seen);
      const ok = (seen: string, failCode: string) => seen === failCode || (expected === "502 or cut" && cut(seen));
      rows.push({
        area: "web",
        attack: `response head fault "${fault}" from a sandbox server`,
        as: "exposed app",
        expected: `${expected} for that request (fetch: FETCH_FAILED), daemon serving`,
        observed: `expose: ${viaExpose}; fetch: ${viaFetch}; daemon ${alive ? "serving" : "DEAD"}; unguarded proxy: ${before}`,
        held: alive && ok(viaExpose, "502") && ok(viaFetch, "FETCH_FAILED"),
      });
      if (!alive) break;
    }
  } finally {
    unguarded.close();
  }
  reportAttacks("Web: hostile response heads", rows);
  assert.deepEqual(broken(rows), []);
  // The probes can hurt: the heads that killed the daemon before issue 10 kill an unguarded proxy.
  assert.ok(
    rows.some((r) => r.observed.endsWith("unguarded proxy: crashed")),
    "no fault crashed the unguarded proxy: the probes prove nothing",
  );
  assert.equal((await ctx.sb.sh`echo still here`.text()).trimEnd(), "still here", "the sandbox and its session outlived every fault");
});

test("the exposed URL is an origin of its own that Node's fetch, curl and WebSocket clients reach", async () => {
  const rows: AttackRow[] = [];
  const api = new URL(ctx.daemon.url);
  const exposed = new URL(ctx.url);
  const nodeFetch = await probe(`${ctx.url}echo`);
  const curl = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `${ctx.url}echo`]).then(
    (r) => r.stdout,
    (e: Error) => e.message,
  );
  const ws = await new Promise<string>((resolve) => {
    const sock = new WebSocket(`${ctx.url.replace("http:", "ws:")}ws`);
    sock.on("open", () => sock.send("ping"));
    sock.on("message", (data) => {
      resolve((JSON.parse(data.toString()) as { message: string }).message);
      sock.close();
    });
    sock.on("error", (err) => resolve(`error: ${err.message}`));
  });
  rows.push(
    {
      area: "web",
      attack: "exposed URL shares the API's origin",
      as: "exposed app",
      expected: "another host",
      observed: `${exposed.host} vs API ${api.host}`,
      held: exposed.hostname !== api.hostname && exposed.host !== api.host,
    },
    { area: "web", attack: "exposed URL from Node's fetch (no DNS)", as: "operator", expected: "200", observed: nodeFetch, held: nodeFetch === "200" },
    { area: "web", attack: "exposed URL from curl", as: "operator", expected: "200", observed: curl, held: curl === "200" },
    { area: "web", attack: "WebSocket through the exposed URL", as: "operator", expected: "echo of ping", observed: ws, held: ws === "ping" },
  );
  // The old forms on the API's port are gone: they would put tenant pages on the dashboard's origin.
  const token = exposed.pathname.split("/")[1]!;
  const pathForm = await probe(`${ctx.daemon.url}/expose/${token}/echo`);
  const hostForm = await fetch(`${ctx.daemon.url}/echo`, { headers: { host: `${token}.sbx.localhost:${api.port}` } }).then((r) => String(r.status));
  rows.push({
    area: "web",
    attack: "exposed app on the API's port (/expose/<token>/, <token>.sbx.localhost)",
    as: "exposed app",
    expected: "not served (401/404)",
    observed: `${pathForm}, ${hostForm}`,
    held: !pathForm.startsWith("2") && !hostForm.startsWith("2"),
  });
  reportAttacks("Web: where exposed ports live", rows);
  assert.deepEqual(broken(rows), []);
});

test("the exposure's listener without the token serves nothing, whatever the Host says", async () => {
  const origin = new URL(ctx.url).origin;
  const rows: AttackRow[] = [];
  for (const [what, url, headers] of [
    ["no token", `${origin}/echo`, {}],
    ["wrong token", `${origin}/${"a".repeat(26)}/echo`, {}],
    ["DNS-rebound Host, no token", `${origin}/echo`, { host: "evil.example" }],
    ["gate cookie of another token", `${origin}/echo`, { cookie: `atoll_expose=${"b".repeat(26)}` }],
  ] as const) {
    const seen = await probe(url, { headers });
    rows.push({ area: "web", attack: `request to an exposure's listener: ${what}`, as: "host user", expected: "404", observed: seen, held: seen === "404" });
  }
  // The probe works: the same listener with the token serves, and its gate cookie opens absolute paths.
  const first = await fetch(`${ctx.url}echo`);
  const gate = first.headers.get("set-cookie") ?? "";
  const withGate = await probe(`${origin}/echo`, { headers: { cookie: gate.split(";")[0]! } });
  rows.push({
    area: "web",
    attack: "control: the token, then its gate cookie",
    as: "operator",
    expected: "200, HttpOnly SameSite=Strict cookie, 200",
    observed: `${first.status}, ${gate}, ${withGate}`,
    held: first.status === 200 && /HttpOnly/.test(gate) && /SameSite=Strict/.test(gate) && withGate === "200",
  });
  reportAttacks("Web: the token stays the capability", rows);
  assert.deepEqual(broken(rows), []);
});

test("the caller's credentials for the daemon never reach the sandbox; the app's own do", async () => {
  const admin = ctx.daemon.token;
  const created = await ctx.client.admin.createToken({ tenant: "default", name: "web-attack" });
  const session = "v2.e30.1.n.mac";
  const sent = {
    cookie: `atoll_session=${session}; atoll_expose=x; app_session=keep-me`,
    authorization: `Bearer ${created.token}`,
    "x-probe": "arrives",
  };
  const echo = (await (await fetch(`${ctx.url}echo`, { headers: sent })).json()) as { headers: [string, string][] };
  const got = received(echo);
  const basic = `Basic ${Buffer.from(`admin:${admin}`).toString("base64")}`;
  const gotBasic = received((await (await fetch(`${ctx.url}echo`, { headers: { authorization: basic } })).json()) as { headers: [string, string][] });
  const appAuth = received(
    (await (await fetch(`${ctx.url}echo`, { headers: { authorization: "Bearer app-own-token" } })).json()) as { headers: [string, string][] },
  );
  const ws = await new Promise<Record<string, string>>((resolve, reject) => {
    const sock = new WebSocket(`${ctx.url.replace("http:", "ws:")}ws`, [`atoll.token.${admin}`, "chat"], {
      headers: { cookie: `atoll_session=${session}; app=1`, authorization: `Bearer ${admin}` },
    });
    sock.on("open", () => sock.send("x"));
    sock.on("message", (data) => {
      resolve(received(JSON.parse(data.toString()) as { headers: [string, string][] }));
      sock.close();
    });
    sock.on("error", reject);
  });
  const all = JSON.stringify([got, gotBasic, ws]);
  const rows: AttackRow[] = [
    {
      area: "web",
      attack: "dashboard cookie forwarded to the sandbox",
      as: "exposed app",
      expected: "absent",
      observed: got.cookie ?? "(no cookie)",
      held: !all.includes("atoll_session") && !all.includes("atoll_expose"),
    },
    {
      area: "web",
      attack: "API token in Authorization forwarded (Bearer, Basic, WebSocket)",
      as: "exposed app",
      expected: "absent",
      observed: `${got.authorization ?? "-"}, ${gotBasic.authorization ?? "-"}, ${ws.authorization ?? "-"}`,
      held: !all.includes(admin) && !all.includes(created.token),
    },
    {
      area: "web",
      attack: "atoll.token.* WebSocket subprotocol forwarded",
      as: "exposed app",
      expected: "only chat",
      observed: ws["sec-websocket-protocol"] ?? "-",
      held: ws["sec-websocket-protocol"] === "chat",
    },
    // Control: the echo shows what it is sent; the app's own cookie and credentials pass.
    {
      area: "web",
      attack: "control: the app's own cookie, header and Authorization",
      as: "operator",
      expected: "app_session=keep-me, arrives, Bearer app-own-token, app=1",
      observed: `${got.cookie}, ${got["x-probe"]}, ${appAuth.authorization}, ${ws.cookie}`,
      held: got.cookie === "app_session=keep-me" && got["x-probe"] === "arrives" && appAuth.authorization === "Bearer app-own-token" && ws.cookie === "app=1",
    },
  ];
  await ctx.client.admin.revokeToken(created.id);
  reportAttacks("Web: credentials sent to an exposed port", rows);
  assert.deepEqual(broken(rows), []);
});
