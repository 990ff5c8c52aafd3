import assert from "node:assert/strict";
import { test } from "node:test";
import { checkResponseHead } from "./response-head.js";

const head = (statusCode: number, statusMessage: string, rawHeaders: string[] = []) => ({ statusCode, statusMessage, rawHeaders });

test("a good head passes with hop-by-hop headers left out and duplicates kept", () => {
  const h = checkResponseHead(head(200, "OK", ["Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Connection", "x-hop, close", "X-Hop", "1", "Transfer-Encoding", "chunked", "Keep-Alive", "5"]), ["x-atoll-fetch", "1"]);
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
  for (const raw of [["Bad Name", "v"], ["", "v"], ["x", "a\x00b"], ["x", "a\rb"], ["x", "a\nb"], ["x(y)", "v"]]) {
    assert.equal(typeof checkResponseHead(head(200, "OK", raw)), "string", JSON.stringify(raw));
  }
  assert.equal(typeof checkResponseHead(head(200, "OK", ["x", "tab\tand obs-text \xe9"])), "object");
});
