import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardedHeaders, withoutDaemonCookies } from "./expose-headers.js";

const TOKEN = `atl_${"ab".repeat(32)}`;
const isToken = (v: string) => v === TOKEN || v === "bootstrap-token";
const pairs = (flat: string[]) => flat.flatMap((v, i) => (i % 2 === 0 ? [[v, ...flat.slice(i + 1, i + 2)]] : []));

test("the daemon's cookies are dropped, the app's own pass", () => {
  assert.equal(withoutDaemonCookies("atoll_session=v2.x; app=1; atoll_expose=t; theme=dark"), "app=1; theme=dark");
  assert.equal(withoutDaemonCookies("ATOLL_SESSION=x"), undefined);
  assert.equal(withoutDaemonCookies("app=1;;  flag"), "app=1; flag");
});

test("Atoll tokens in Authorization never reach the sandbox; other credentials do", () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
  const cases: [string, boolean][] = [
    [`Bearer ${TOKEN}`, false],
    [`bearer   ${TOKEN}`, false],
    ["Bearer bootstrap-token", false],
    [basic("x", TOKEN), false],
    [basic(TOKEN, ""), false],
    [`Token ${TOKEN}`, false],
    ["Bearer app-session-123", true],
    [basic("alice", "wonder"), true],
  ];
  for (const [value, kept] of cases) {
    const out = forwardedHeaders(["Host", "h", "Authorization", value], isToken, false);
    assert.equal(out.includes("Authorization"), kept, value);
  }
});

test("hop-by-hop headers go, upgrades keep Connection/Upgrade, atoll.token subprotocols go", () => {
  const raw = [
    "Host",
    "h",
    "Connection",
    "keep-alive, X-Secret-Hop",
    "X-Secret-Hop",
    "1",
    "Keep-Alive",
    "5",
    "Proxy-Authorization",
    "Basic eA==",
    "TE",
    "trailers",
    "Transfer-Encoding",
    "chunked",
    "Cookie",
    "atoll_session=s; a=1",
    "Sec-WebSocket-Protocol",
    `atoll.token.${TOKEN}, chat`,
  ];
  assert.deepEqual(pairs(forwardedHeaders(raw, isToken, false)), [
    ["Host", "h"],
    ["Transfer-Encoding", "chunked"],
    ["Cookie", "a=1"],
    ["Sec-WebSocket-Protocol", "chat"],
  ]);
  const up = forwardedHeaders(["Host", "h", "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Protocol", `atoll.token.${TOKEN}`], isToken, true);
  assert.deepEqual(pairs(up), [
    ["Host", "h"],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
  ]);
});
