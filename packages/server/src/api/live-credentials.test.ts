import assert from "node:assert/strict";
import { test } from "node:test";
import { LiveCredentials } from "./live-credentials.js";

test("ending a token cuts what it holds open, including its dashboard logins; untracked things are spared", () => {
  const live = new LiveCredentials();
  const ended: string[] = [];
  live.track({ tenant: "t", admin: false, tokenId: "tok_a" }, () => ended.push("socket a"));
  live.track({ tenant: "t", admin: false, tokenId: "tok_a", sessionId: "s1" }, () => ended.push("stream s1"));
  const untrack = live.track({ tenant: "t", admin: false, tokenId: "tok_a" }, () => ended.push("finished request"));
  live.track({ tenant: "t", admin: false, tokenId: "tok_b", sessionId: "s2" }, () => ended.push("stream s2"));
  untrack();
  assert.equal(live.endSession("s2"), 1);
  assert.equal(live.endToken("tok_a"), 2);
  assert.deepEqual(ended, ["stream s2", "socket a", "stream s1"]);
  assert.equal(live.endToken("tok_a"), 0);
  assert.equal(live.endSession("s1"), 0, "already ended with its token");
});

test("session sockets per token are capped; releasing frees a place once", () => {
  const live = new LiveCredentials();
  const r1 = live.reserveSession("tok", 2)!;
  const r2 = live.reserveSession("tok", 2)!;
  assert.equal(live.reserveSession("tok", 2), undefined);
  assert.ok(live.reserveSession("other", 2), "another token has its own count");
  r1();
  r1();
  assert.ok(live.reserveSession("tok", 2));
  assert.equal(live.reserveSession("tok", 2), undefined, "a double release freed one place only");
  r2();
});
