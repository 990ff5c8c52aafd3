import assert from "node:assert/strict";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { MAX_FORWARDED_HEAD_BYTES, MAX_HEADER_BYTES, endToEnd } from "./forward-headers.js";
import { forward, relayResponse } from "./http-forwarder.js";

/** A loopback server that records each request head and answers with `answer` (raw bytes). */
async function rawServer(answer: string): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((sock) => {
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0 || got === "") return;
      heads.push(got.slice(0, end));
      got = "";
      sock.end(answer);
    });
    sock.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => server.close());
  return { port: (server.address() as AddressInfo).port, heads };
}

const connection = (port: number) => net.connect(port, "127.0.0.1");

test("a request crosses without hop-by-hop headers; the response head is checked and extended", async () => {
  const s = await rawServer("HTTP/1.1 201 Made\r\nContent-Length: 2\r\nX-App: 1\r\nConnection: close, X-Hop\r\nX-Hop: y\r\n\r\nok");
  const raw = ["Host", "h", "Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "5", "Proxy-Authorization", "Basic eA==", "X-App", "a"];
  const f = await forward(
    { method: "GET", path: "/p?q", headers: endToEnd(raw, "body"), upstream: { connection: connection(s.port) } },
    { extra: ["x-atoll-fetch", "1"] },
  );
  assert.ok(!("failed" in f));
  assert.deepEqual(f.head, { status: 201, message: "Made", headers: ["Content-Length", "2", "X-App", "1", "x-atoll-fetch", "1"] });
  const lines = s.heads[0]!.split("\r\n");
  assert.equal(lines[0], "GET /p?q HTTP/1.1");
  assert.deepEqual(
    lines.slice(1).filter((l) => !/^connection: close$/i.test(l)),
    ["Host: h", "X-App: a"],
  );
  let body = "";
  for await (const c of f.response) body += String(c);
  assert.equal(body, "ok");
});

test("a response head Node cannot write, or one over the size bound, is refused", async () => {
  const zero = await rawServer("HTTP/1.1 000 X\r\nContent-Length: 0\r\n\r\n");
  const f0 = await forward({ method: "GET", path: "/", headers: ["Host", "h"], upstream: { connection: connection(zero.port) } });
  assert.ok("failed" in f0 && f0.failed === "head" && /status 000/.test(f0.message), JSON.stringify(f0));
  const big = await rawServer(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(MAX_HEADER_BYTES)}\r\nContent-Length: 0\r\n\r\n`);
  const f1 = await forward({ method: "GET", path: "/", headers: ["Host", "h"], upstream: { connection: connection(big.port) } });
  assert.ok("failed" in f1 && f1.failed === "request", JSON.stringify(f1));
  // Just under the bound passes: the bound, not something else, refused the first.
  const fits = await rawServer(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(MAX_HEADER_BYTES - 200)}\r\nContent-Length: 0\r\n\r\n`);
  const f2 = await forward({ method: "GET", path: "/", headers: ["Host", "h"], upstream: { connection: connection(fits.port) } });
  assert.ok(!("failed" in f2), JSON.stringify("failed" in f2 ? f2 : ""));
  f2.response.destroy();
});

test("a request head over its bound is not sent", async () => {
  const s = await rawServer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const conn = connection(s.port);
  const f = await forward({ method: "GET", path: "/", headers: ["Host", "h", "X-Big", "a".repeat(MAX_FORWARDED_HEAD_BYTES)], upstream: { connection: conn } });
  assert.ok("failed" in f && f.failed === "request" && /larger than/.test(f.message));
  conn.destroy();
  assert.equal(s.heads.length, 0);
});

test("a server Node dials: the body is relayed with its framing and the response written on", async () => {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () =>
      res.writeHead(200, { "x-got": `${req.headers["transfer-encoding"]}:${body}`, connection: "keep-alive, x-hop", "x-hop": "1" }).end("done"),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const f = await forward({
    method: "DELETE",
    path: "/",
    headers: endToEnd(["Host", "h", "Transfer-Encoding", "chunked"], "body"),
    body: Readable.from([Buffer.from("a"), Buffer.from("b")]),
    upstream: { tls: false, options: { host: "127.0.0.1", port, agent: false } },
  });
  assert.ok(!("failed" in f));
  const front = http.createServer((_req, res) => assert.equal(relayResponse(f, res), undefined));
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
  after(() => {
    front.closeAllConnections();
    front.close();
  });
  const got = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/`);
  assert.equal(got.headers.get("x-got"), "chunked:ab");
  assert.equal(got.headers.get("x-hop"), null);
  assert.equal(await got.text(), "done");
});

test("aborting ends a request that waits for its answer", async () => {
  const silent = net.createServer((sock) => sock.on("error", () => undefined));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  after(() => silent.close());
  const abort = new AbortController();
  const pending = forward({
    method: "GET",
    path: "/",
    headers: ["Host", "h"],
    upstream: { connection: connection((silent.address() as AddressInfo).port) },
    signal: abort.signal,
  });
  abort.abort();
  const f = await pending;
  assert.ok("failed" in f && f.failed === "request");
});
