/**
 * The network routes in process, with networking on (testing/fakes/fake-daemon.ts over a
 * FakeNetwork): create with allowNet and `port`, allow-net, expose, sandbox.fetch into the
 * sandbox and out of it, and what SandboxInfo shows. What nftables and netd enforce stays in
 * the integration tier (e2e/network-*.itest.ts, the attack suite).
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { Duplex } from "node:stream";
import { after, before, describe, it } from "node:test";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";
import { FakeNetwork } from "../testing/fakes/fake-network.js";

interface Info {
  id: string;
  state: string;
  allowNet: string[] | null;
  url: string | null;
  network: { ipv4: string; ipv6: string; exposed: { port: number; url: string }[] } | null;
}

/** An HTTP server on in-memory connections: answers `<who> <method> <url>`. */
function httpServer(who: string): (sock: Duplex) => void {
  const server = http.createServer((req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`${who} ${req.method} ${req.url}`);
  });
  return (sock) => server.emit("connection", sock);
}

let d: FakeDaemon;
let net: FakeNetwork;
before(async () => {
  net = new FakeNetwork({ netOpen: ["documentation"], names: { "example.com": ["203.0.113.10"], "other.test": ["198.51.100.30"] } });
  net.serveOutside("203.0.113.10", 80, httpServer("example.com"));
  net.serveOutside("198.51.100.30", 80, httpServer("other.test"));
  d = await startFakeDaemon({ network: net });
});
after(async () => {
  await d.close();
});

const create = async (body: object): Promise<Info> => {
  const res = await d.request("POST", "/v1/sandboxes", { body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as Info;
};
const fetchFrom = (id: string, url: string, method = "GET") =>
  d.request("POST", `/v1/sandboxes/${id}/fetch`, { headers: { "x-atoll-url": url, "x-atoll-method": method } });

describe("network routes, networking on", () => {
  it("create with allowNet and port: the sandbox has addresses, its policy and the URL of its port", async () => {
    const sb = await create({ allowNet: ["example.com"], port: 3000 });
    assert.deepEqual(sb.allowNet, ["example.com"]);
    assert.ok(sb.network, "network info");
    assert.match(sb.network.ipv4, /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(sb.url ?? "", /^http:\/\/[a-z2-7]{26}\.expose\.fake\/$/);
    assert.deepEqual(sb.network.exposed, [{ port: 3000, url: sb.url }]);
    assert.ok(net.attachedIds.includes(sb.id));
  });

  it("POST allow-net replaces the policy (200, the sandbox); bad rules are 400 and change nothing", async () => {
    const sb = await create({ allowNet: [] });
    const res = await d.request("POST", `/v1/sandboxes/${sb.id}/allow-net`, { body: { allowNet: ["other.test:80"] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((res.json() as Info).allowNet, ["other.test:80"]);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/allow-net`, { body: { allowNet: ["bad port:x"] } }), 400, "INVALID_ARGUMENT");
    assert.deepEqual(((await d.request("GET", `/v1/sandboxes/${sb.id}`)).json() as Info).allowNet, ["other.test:80"]);
    assert.deepEqual(await net.resolve(sb.id, "other.test"), ["198.51.100.30"], "the driver has the new policy");
    assert.deepEqual(await net.resolve(sb.id, "example.com"), []);
  });

  it("POST expose gives a port its URL, the same one again, and SandboxInfo lists it", async () => {
    const sb = await create({});
    const first = await d.request("POST", `/v1/sandboxes/${sb.id}/expose`, { body: { port: 8080 } });
    assert.equal(first.statusCode, 200, first.body);
    const exposed = first.json() as { port: number; url: string };
    assert.equal(exposed.port, 8080);
    const again = (await d.request("POST", `/v1/sandboxes/${sb.id}/expose`, { body: { port: 8080 } })).json() as { url: string };
    assert.equal(again.url, exposed.url);
    const info = (await d.request("GET", `/v1/sandboxes/${sb.id}`)).json() as Info;
    assert.deepEqual(info.network?.exposed, [exposed]);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/expose`, { body: { port: 0 } }), 400, "INVALID_ARGUMENT");
  });

  it("POST fetch reaches a server inside the sandbox and an allowed name outside, and relays the answer", async () => {
    const sb = await create({ allowNet: ["example.com"] });
    const stop = net.listen(sb.id, 3000, httpServer("inside"));
    const inside = await fetchFrom(sb.id, "http://localhost:3000/hello?x=1");
    assert.equal(inside.statusCode, 200, inside.body);
    assert.equal(inside.headers["x-atoll-fetch"], "1");
    assert.equal(inside.body, "inside GET /hello?x=1");
    stop();
    const outside = await fetchFrom(sb.id, "http://example.com/page", "HEAD");
    assert.equal(outside.statusCode, 200);
    assert.equal((await fetchFrom(sb.id, "http://example.com/page")).body, "example.com GET /page");
  });

  it("POST fetch: a name outside allowNet, or a port where nothing listens, is FETCH_FAILED", async () => {
    const sb = await create({ allowNet: ["example.com"] });
    assertWireError(await fetchFrom(sb.id, "http://other.test/"), 502, "FETCH_FAILED");
    assertWireError(await fetchFrom(sb.id, "http://localhost:3999/"), 502, "FETCH_FAILED");
  });

  it("deleting the sandbox releases its network", async () => {
    const sb = await create({ allowNet: null });
    assert.ok(net.attachedIds.includes(sb.id));
    assert.equal((await d.request("DELETE", `/v1/sandboxes/${sb.id}`)).statusCode, 200);
    assert.ok(!net.attachedIds.includes(sb.id));
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/expose`, { body: { port: 8080 } }), 409, "SANDBOX_NOT_RUNNING");
  });
});
