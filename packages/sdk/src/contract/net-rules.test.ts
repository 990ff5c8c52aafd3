import assert from "node:assert/strict";
import { test } from "node:test";
import { type HostRule, hostRuleMatches, parseNetRule } from "./net-rules.js";
import { allowNetSchema, createSandboxSchema } from "./schemas.js";

test("every allowNet form parses to its rule", () => {
  const ok = (entry: string) => {
    const r = parseNetRule(entry);
    assert.ok(r.ok, `${entry}: ${r.ok ? "" : r.error}`);
    return r.value;
  };
  assert.deepEqual(ok("Example.COM"), { kind: "host", name: "example.com", wildcard: false, port: null });
  assert.deepEqual(ok("example.com:443"), { kind: "host", name: "example.com", wildcard: false, port: 443 });
  assert.deepEqual(ok("*.example.com"), { kind: "host", name: "example.com", wildcard: true, port: null });
  assert.deepEqual(ok("*.example.com:8080"), { kind: "host", name: "example.com", wildcard: true, port: 8080 });
  assert.deepEqual(ok("203.0.113.7"), { kind: "ip", family: 4, address: "203.0.113.7", prefix: 32, port: null });
  assert.deepEqual(ok("203.0.113.7:80"), { kind: "ip", family: 4, address: "203.0.113.7", prefix: 32, port: 80 });
  assert.deepEqual(ok("203.0.113.77/24"), { kind: "ip", family: 4, address: "203.0.113.0", prefix: 24, port: null });
  assert.deepEqual(ok("203.0.113.0/24:443"), { kind: "ip", family: 4, address: "203.0.113.0", prefix: 24, port: 443 });
  assert.deepEqual(ok("2001:db8::1"), { kind: "ip", family: 6, address: "2001:db8::1", prefix: 128, port: null });
  assert.deepEqual(ok("[2001:DB8::1]"), { kind: "ip", family: 6, address: "2001:db8::1", prefix: 128, port: null });
  assert.deepEqual(ok("[2001:db8::1]:443"), { kind: "ip", family: 6, address: "2001:db8::1", prefix: 128, port: 443 });
  assert.deepEqual(ok("2001:db8:ffff::/32"), { kind: "ip", family: 6, address: "2001:db8::", prefix: 32, port: null });
  assert.deepEqual(ok("[2001:db8::/32]:443"), { kind: "ip", family: 6, address: "2001:db8::", prefix: 32, port: 443 });
  assert.equal(ok("xn--bcher-kva.example").kind, "host");
});

test("malformed entries are refused with a reason", () => {
  const bad = [
    "",
    " example.com",
    "exa mple.com",
    "*",
    "*.",
    "*.*.example.com",
    "foo.*.com",
    "a..b",
    ".example.com",
    "example.com.",
    "example.com:0",
    "example.com:65536",
    "example.com:",
    "example.com:http",
    ":80",
    "203.0.113.0/33",
    "203.0.113.0/",
    "256.1.1.1",
    "1.2.3",
    "[2001:db8::1",
    "[203.0.113.7]",
    "2001:db8::/129",
    "https://example.com",
    "example.com/path",
    "-bad.com",
    "bad-.com",
    "ex_ample.com",
    `${"a".repeat(64)}.com`,
  ];
  for (const entry of bad) {
    const r = parseNetRule(entry);
    assert.ok(!r.ok, `${JSON.stringify(entry)} should be refused`);
    assert.ok(r.error.length > 10, r.error);
  }
  const parsed = allowNetSchema.safeParse(["example.com", "bad port:1"]);
  assert.ok(!parsed.success);
  assert.ok(createSandboxSchema.safeParse({ allowNet: null }).success, "null = unrestricted");
  assert.ok(createSandboxSchema.safeParse({ allowNet: [] }).success);
  assert.ok(!createSandboxSchema.safeParse({ port: 0 }).success);
  assert.ok(!createSandboxSchema.safeParse({ secrets: { K: { hosts: [], value: "v" } } }).success, "a secret needs hosts");
});

test("wildcards match subdomains at any depth, never the apex", () => {
  const rule = (parseNetRule("*.example.com") as { value: HostRule }).value;
  assert.ok(hostRuleMatches(rule, "www.example.com"));
  assert.ok(hostRuleMatches(rule, "a.b.example.com"));
  assert.ok(!hostRuleMatches(rule, "example.com"));
  assert.ok(!hostRuleMatches(rule, "badexample.com"));
  const exact = (parseNetRule("example.com") as { value: HostRule }).value;
  assert.ok(hostRuleMatches(exact, "example.com"));
  assert.ok(!hostRuleMatches(exact, "www.example.com"));
});
