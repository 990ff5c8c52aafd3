import assert from "node:assert/strict";
import { test } from "node:test";
import { durationSetting, parseListen } from "../daemon-config.js";
import { parseExposeDomain, resolveWebConfig } from "./web-config.js";

const parse = { listen: parseListen, duration: durationSetting };

test("--expose-domain forms", () => {
  assert.deepEqual(parseExposeDomain("sbx.example.com"), { scheme: "http", domain: "sbx.example.com", publicPort: undefined, explicitScheme: false });
  assert.deepEqual(parseExposeDomain("HTTPS://Sbx.Example.com/"), { scheme: "https", domain: "sbx.example.com", publicPort: undefined, explicitScheme: true });
  assert.equal(parseExposeDomain("http://sbx.example.com:8080").publicPort, 8080);
  for (const bad of ["localhost", "", "ftp://a.b", "a..b", "-a.b", "a.b:0", "a.b:70000", "a.b/path", "*.a.b"])
    assert.throws(() => parseExposeDomain(bad), /--expose-domain/, bad);
});

test("defaults: loopback exposures and documented limits; env and flags override", () => {
  const d = resolveWebConfig({}, "127.0.0.1", parse, {});
  assert.deepEqual(d, {
    expose: { mode: "loopback" },
    limits: { connectionsPerAddress: 4096, sessionsPerToken: 2048, headersTimeoutMs: 10_000, publicRequestTimeoutMs: 10_000, exposeRequestTimeoutMs: 60_000 },
  });
  const c = resolveWebConfig({ exposeDomain: "sbx.example.com" }, "0.0.0.0", parse, { ATOLL_MAX_SESSIONS_PER_TOKEN: "3", ATOLL_PUBLIC_REQUEST_TIMEOUT: "2s" });
  assert.deepEqual(c.expose, { mode: "domain", scheme: "http", domain: "sbx.example.com", publicPort: "listener", listenHost: "0.0.0.0", listenPort: 7421 });
  assert.equal(c.limits.sessionsPerToken, 3);
  assert.equal(c.limits.publicRequestTimeoutMs, 2000);
  const tls = resolveWebConfig({ exposeDomain: "https://sbx.example.com", exposeListen: "127.0.0.1:9000" }, "127.0.0.1", parse, {});
  assert.deepEqual(tls.expose, {
    mode: "domain",
    scheme: "https",
    domain: "sbx.example.com",
    publicPort: undefined,
    listenHost: "127.0.0.1",
    listenPort: 9000,
  });
  assert.throws(() => resolveWebConfig({ exposeListen: "127.0.0.1:9000" }, "127.0.0.1", parse, {}), /needs --expose-domain/);
  assert.throws(() => resolveWebConfig({}, "127.0.0.1", parse, { ATOLL_MAX_CONNECTIONS_PER_ADDRESS: "0" }), /ATOLL_MAX_CONNECTIONS_PER_ADDRESS/);
  assert.throws(() => resolveWebConfig({}, "127.0.0.1", parse, { ATOLL_HEADERS_TIMEOUT: "soon" }), /ATOLL_HEADERS_TIMEOUT/);
});
