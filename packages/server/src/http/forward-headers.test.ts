import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_FORWARDED_HEAD_BYTES, checkResponseHead, endToEnd, serializeRequestHead } from "./forward-headers.js";

const head = (statusCode: number, statusMessage: string, rawHeaders: string[] = []) => ({ statusCode, statusMessage, rawHeaders });

test("a good head passes with hop-by-hop headers left out and duplicates kept", () => {
  const h = checkResponseHead(
    head(200, "OK", [
      "Content-Type",
      "text/plain",
      "Set-Cookie",
      "a=1",
      "Set-Cookie",
      "b=2",
      "Connection",
      "x-hop, close",
      "X-Hop",
      "1",
      "Transfer-Encoding",
      "chunked",
      "Keep-Alive",
      "5",
    ]),
    { extra: ["x-atoll-fetch", "1"] },
  );
  assert.deepEqual(h, { status: 200, message: "OK", headers: ["Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "x-atoll-fetch", "1"] });
});

test("statuses that are not final HTTP statuses are refused", () => {
  for (const status of [0, 1, 99, 100, 101, 199, 600, 999]) assert.equal(typeof checkResponseHead(head(status, "X")), "string", String(status));
  assert.match(checkResponseHead(head(0, "X")) as string, /status 000/);
});

test("a status text with control characters makes the head unusable; a long or empty one is fine", () => {
  assert.match(checkResponseHead(head(200, "O\x01K")) as string, /status text/);
  assert.equal(typeof checkResponseHead(head(200, "O\x7fK")), "string");
  assert.equal(typeof checkResponseHead(head(200, "a\rb")), "string");
  assert.equal((checkResponseHead(head(404, "x".repeat(500))) as { message: string }).message.length, 500);
  assert.equal((checkResponseHead(head(299, "")) as { message: string }).message, "");
});

test("header names and values Node would refuse to write make the head unusable", () => {
  for (const raw of [
    ["Bad Name", "v"],
    ["", "v"],
    ["x", "a\x00b"],
    ["x", "a\rb"],
    ["x", "a\nb"],
    ["x(y)", "v"],
  ]) {
    assert.equal(typeof checkResponseHead(head(200, "OK", raw)), "string", JSON.stringify(raw));
  }
  assert.equal(typeof checkResponseHead(head(200, "OK", ["x", "tab\tand obs-text \xe9"])), "object");
});

test("a response map changes or drops values, and what it returns is validated too", () => {
  const map = (name: string, value: string) => (name === "content-length" ? undefined : value.replace("secret", "PLACEHOLDER"));
  assert.deepEqual(checkResponseHead(head(200, "OK", ["Content-Length", "6", "X-Echo", "a secret", "Keep-Alive", "secret"]), { map }), {
    status: 200,
    message: "OK",
    headers: ["X-Echo", "a PLACEHOLDER"],
  });
  assert.equal(typeof checkResponseHead(head(200, "OK", ["X", "v"]), { map: () => "bad\r\nvalue" }), "string");
});

test("request headers: hop-by-hop ones and those Connection names go, framing and upgrades as asked", () => {
  const raw = [
    "Host",
    "h",
    "Connection",
    "Upgrade, X-Hop",
    "X-Hop",
    "1",
    "Upgrade",
    "websocket",
    "Keep-Alive",
    "5",
    "TE",
    "trailers",
    "Trailer",
    "x",
    "Proxy-Connection",
    "k",
    "Proxy-Authorization",
    "Basic eA==",
    "Proxy-Authenticate",
    "x",
    "Transfer-Encoding",
    "chunked",
    "X-App",
    "a",
    "X-App",
    "b",
  ];
  assert.deepEqual(endToEnd(raw, "body"), ["Host", "h", "Transfer-Encoding", "chunked", "X-App", "a", "X-App", "b"]);
  assert.deepEqual(endToEnd(raw, "upgrade"), [
    "Host",
    "h",
    "Connection",
    "Upgrade, X-Hop",
    "Upgrade",
    "websocket",
    "Transfer-Encoding",
    "chunked",
    "X-App",
    "a",
    "X-App",
    "b",
  ]);
  // The first Host is the one every check saw: a second one never reaches the server.
  assert.deepEqual(endToEnd(["Host", "allowed.example", "host", "other.example"], "body"), ["Host", "allowed.example"]);
  assert.deepEqual(
    endToEnd(["A", "1", "B", "2"], "body", (name, v) => (name === "a" ? undefined : `${v}!`)),
    ["B", "2!"],
  );
});

test("a request head is serialised as HTTP/1.1 and bounded", () => {
  assert.equal(serializeRequestHead("GET", "/x", ["Host", "h", "Upgrade", "websocket"]), "GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  assert.throws(() => serializeRequestHead("GET", "/", ["X-Big", "a".repeat(MAX_FORWARDED_HEAD_BYTES)]), RangeError);
});
