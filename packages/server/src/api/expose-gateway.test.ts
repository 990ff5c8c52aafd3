import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import pino from "pino";
import { ExposeGateway, domainRouter, routeLoopback } from "./expose-gateway.js";

const T = "abcdefghijklmnopqrstuvwxyz";

test("a loopback exposure answers its token prefix (stripped) or its gate cookie, nothing else", () => {
  const r = routeLoopback(T, { url: `/${T}/app.js?x=1`, headers: {} });
  assert.equal(r?.path, "/app.js?x=1");
  assert.deepEqual(r?.extraHeaders, ["set-cookie", `atoll_expose=${T}; Path=/; HttpOnly; SameSite=Strict`]);
  assert.equal(routeLoopback(T, { url: `/${T}`, headers: {} })?.path, "/");
  assert.equal(routeLoopback(T, { url: `/${T}?q`, headers: {} })?.path, "/?q");
  assert.deepEqual(routeLoopback(T, { url: "/assets/a.css", headers: { cookie: `other=1; atoll_expose=${T}` } }), {
    token: T,
    path: "/assets/a.css",
    extraHeaders: [],
  });
  for (const [url, cookie] of [
    ["/assets/a.css", undefined],
    ["/", `atoll_expose=${T.replace("a", "b")}`],
    [`/${T}x/`, undefined],
    [`http://h/${T}/`, undefined],
    ["*", `atoll_expose=${T}`],
  ] as const) {
    assert.equal(routeLoopback(T, { url, headers: cookie ? { cookie } : {} }), undefined, `${url} ${cookie}`);
  }
});

test("the domain listener routes by Host only", () => {
  const route = domainRouter("sbx.example.com");
  assert.deepEqual(route({ url: "/x", headers: { host: `${T}.sbx.example.com:8080` } }), { token: T, path: "/x", extraHeaders: [] });
  assert.equal(route({ url: "/x", headers: { host: `${T.toUpperCase()}.SBX.example.com` } })?.token, T);
  for (const host of ["sbx.example.com", `${T}.sbx.example.com.evil.test`, `${T}.sbxXexample.com`, `x.${T}.sbx.example.com`, `${T.slice(1)}.sbx.example.com`]) {
    assert.equal(route({ url: "/", headers: { host } }), undefined, host);
  }
});

test("after a daemon restart a loopback exposure is served at its previous URL, or a new one when that address is taken", async () => {
  const limits = { connectionsPerAddress: 16, sessionsPerToken: 16, headersTimeoutMs: 5000, publicRequestTimeoutMs: 5000, exposeRequestTimeoutMs: 5000 };
  const proxy = {
    proxyExposed: (_req: IncomingMessage, res: ServerResponse) => res.end("proxied"),
    proxyExposedUpgrade: () => undefined,
  };
  const gateway = () => new ExposeGateway({ config: { mode: "loopback" }, limits, proxy, apiHost: "127.0.0.1", logger: pino({ level: "silent" }) });
  const first = gateway();
  const url = await first.open(T);
  first.closeAll(); // the daemon died; its listeners with it
  const second = gateway();
  assert.equal(await second.open(T, url), url);
  assert.equal(await (await fetch(url, { headers: { connection: "close" } })).text(), "proxied");
  // Something else holds that address and port now: the exposure moves.
  const other = `${"b".repeat(26)}`;
  const third = gateway();
  try {
    const moved = await third.open(other, url.replace(T, other));
    assert.notEqual(new URL(moved).host, new URL(url).host);
  } finally {
    third.closeAll();
    second.closeAll();
  }
});
