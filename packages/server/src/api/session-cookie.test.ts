import assert from "node:assert/strict";
import { test } from "node:test";
import type { Principal } from "../core/token-service.js";
import { type TokenVerifier, authenticateRequest } from "./auth.js";

const who = (tenant: string, tokenId = "tok_1"): Principal => ({ tenant, admin: false, tokenId });
import { MemorySessionRecords, SessionCookies, cookieOf, isSameOrigin, sessionCookieHeader } from "./session-cookie.js";

test("a session cookie verifies, carries its tenant, and is not the token", () => {
  const s = new SessionCookies("tok-123");
  const v = s.issue(who("team.a"));
  const { sessionId, ...principal } = s.verify(v)!;
  assert.deepEqual(principal, who("team.a"));
  assert.match(sessionId, /^[0-9a-f]{64}$/);
  assert.ok(!v.includes("tok-123"));
  assert.ok(!v.includes(sessionId), "the server's key is a hash of the cookie's nonce, not in the cookie");
  assert.notEqual(s.issue(who("team.a")), v, "each login gets its own value");
});

test("logging out ends a cookie for every copy; revoking its token ends all of its logins", () => {
  const records = new MemorySessionRecords();
  const s = new SessionCookies("tok-123", undefined, records);
  const a = s.issue(who("t", "tok_a"));
  const b = s.issue(who("t", "tok_a"));
  const c = s.issue(who("t", "tok_c"));
  const copy = `${a}`;
  const id = s.verify(a)!.sessionId;
  assert.equal(s.end(a), id);
  assert.equal(s.verify(copy), undefined, "a copy of a logged-out cookie is refused");
  assert.ok(s.verify(b), "another login of the same token lives on");
  s.endForToken("tok_a");
  assert.equal(s.verify(b), undefined);
  assert.ok(s.verify(c));
  assert.equal(s.end("junk"), undefined);
  // A record alone is not a cookie: another daemon's key (a changed token) refuses it.
  assert.equal(new SessionCookies("other", undefined, records).verify(c), undefined);
  // A correctly signed value without a record (say, from before a restart without the store) is refused.
  assert.equal(new SessionCookies("tok-123").verify(c), undefined);
});

test("forged, foreign, expired, future and malformed cookies are refused", () => {
  const s = new SessionCookies("tok-123", 1000);
  const v = s.issue(who("default"), 10_000);
  assert.equal(s.verify(v, 10_500)?.tenant, "default");
  assert.equal(s.verify(v, 11_001), undefined, "expired");
  assert.equal(new SessionCookies("other").verify(v, 10_500), undefined, "another token's key");
  const parts = v.split(".");
  const forged = Buffer.from(JSON.stringify({ t: "default", a: true, k: "tok_1" })).toString("base64url");
  assert.equal(s.verify([parts[0], forged, ...parts.slice(2)].join("."), 10_500), undefined, "admin flag changed");
  assert.equal(s.verify(s.issue(who("default"), 100_000), 10_000), undefined, "issued in the future");
  for (const bad of ["", "v1", "v1.a.b.c.d", "v2.x.1.n.m", `${v}.extra`]) assert.equal(s.verify(bad, 10_500), undefined, bad);
});

test("cookie parsing and the Set-Cookie header", () => {
  assert.equal(cookieOf({ cookie: "a=1; atoll_session=xyz; b=2" }, "atoll_session"), "xyz");
  assert.equal(cookieOf({ cookie: 'atoll_session="q"' }, "atoll_session"), "q");
  assert.equal(cookieOf({ cookie: "x_atoll_session=1" }, "atoll_session"), undefined);
  assert.equal(cookieOf({}, "atoll_session"), undefined);
  assert.equal(sessionCookieHeader("v", { secure: false, maxAgeSeconds: 60 }), "atoll_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
  assert.match(sessionCookieHeader("v", { secure: true, maxAgeSeconds: 60 }), /; Secure$/);
});

test("same-origin check: Origin must match Host, Sec-Fetch-Site must say same-origin", () => {
  assert.equal(isSameOrigin({ host: "127.0.0.1:7420", origin: "http://127.0.0.1:7420" }), true);
  assert.equal(isSameOrigin({ host: "atoll.example", origin: "https://atoll.example", "sec-fetch-site": "same-origin" }), true);
  assert.equal(isSameOrigin({ host: "127.0.0.1:7420" }), false, "no Origin");
  assert.equal(isSameOrigin({ host: "127.0.0.1:7420", origin: "http://127.0.0.1:8080" }), false, "another port");
  assert.equal(isSameOrigin({ host: "127.0.0.1:7420", origin: "null" }), false);
  assert.equal(isSameOrigin({ host: "127.0.0.1:7420", origin: "http://127.0.0.1:7420", "sec-fetch-site": "same-site" }), false);
});

test("authenticateRequest: bearer first, then the cookie with its CSRF rules", () => {
  const s = new SessionCookies("tok");
  const admin: Principal = { tenant: "default", admin: true, tokenId: "bootstrap" };
  const revoked = new Set<string>();
  const tokens: TokenVerifier = { verify: (t) => (t === "tok" ? admin : undefined), isLive: (id) => !revoked.has(id) };
  const cookie = `atoll_session=${s.issue(admin)}`;
  const same = { host: "h:1", origin: "http://h:1" };
  assert.deepEqual(authenticateRequest({ method: "DELETE", headers: { authorization: "Bearer tok" } }, tokens, s), admin);
  const sessionId = s.verify(cookie.slice("atoll_session=".length))!.sessionId;
  assert.deepEqual(authenticateRequest({ method: "GET", headers: { cookie } }, tokens, s), { ...admin, sessionId });
  assert.deepEqual(authenticateRequest({ method: "POST", headers: { cookie, ...same } }, tokens, s), { ...admin, sessionId });
  assert.throws(() => authenticateRequest({ method: "POST", headers: { cookie } }, tokens, s), { code: "FORBIDDEN" });
  assert.throws(() => authenticateRequest({ method: "GET", headers: { cookie, upgrade: "websocket", ...same } }, tokens, s), { code: "UNAUTHORIZED" });
  assert.throws(() => authenticateRequest({ method: "GET", headers: { cookie: "atoll_session=junk" } }, tokens, s), { code: "UNAUTHORIZED" });
  assert.throws(
    () => authenticateRequest({ method: "GET", headers: { cookie, authorization: "Bearer wrong" } }, tokens, s),
    { code: "UNAUTHORIZED" },
    "a wrong bearer is not rescued by the cookie",
  );
  assert.throws(() => authenticateRequest({ method: "GET", headers: {} }, tokens, s), { code: "UNAUTHORIZED" });
  revoked.add("bootstrap");
  assert.throws(() => authenticateRequest({ method: "GET", headers: { cookie } }, tokens, s), { code: "UNAUTHORIZED" }, "a revoked token's session ends");
});
