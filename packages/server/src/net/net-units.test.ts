import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNetRule, type NetRule } from "atoll/contract";
import { buildAddressPlan, parseRange4 } from "./address-plan.js";
import { nameserversIn } from "./dns-forwarder.js";
import { compilePolicy } from "./linux-network-driver.js";
import { parseDns, parseUplink, resolveNetConfig } from "./net-config.js";
import { addSandboxScript, deleteSandboxScript, learnScript, setClosedScript } from "./nft-ruleset.js";
import { subtractRanges, unionRanges } from "./port-ranges.js";

test("address plan: gateway, sandboxes, transit at the end of the range", () => {
  const p = buildAddressPlan("10.73.0.0/16", "/var/lib/atoll");
  assert.equal(p.gateway4, "10.73.0.1");
  assert.deepEqual(p.sandbox(1).ipv4, "10.73.0.2");
  assert.equal(p.sandbox(300).ipv4, "10.73.1.45");
  assert.deepEqual(p.transit4, { router: "10.73.255.253", peer: "10.73.255.254", prefix: 30 });
  assert.match(p.sandbox(10).ipv6, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:1::a$/);
  assert.equal(p.capacity, 65530);
  assert.throws(() => p.sandbox(0));
  assert.throws(() => parseRange4("10.0.0.0/30"));
  assert.throws(() => parseRange4("10.0.0.256/16"), /--net-range/);
  assert.deepEqual(parseRange4("10.73.200.9/16"), { base: 0x0a490000, prefix: 16 }, "host bits cleared");
  assert.notEqual(buildAddressPlan("10.73.0.0/16", "/a").gateway6, buildAddressPlan("10.73.0.0/16", "/b").gateway6, "ULA per state dir");
});

test("network config: uplink and dns forms; DNS never defaults to the host without the host uplink", () => {
  assert.deepEqual(parseUplink("netns:atoll-fi1"), { kind: "netns", name: "atoll-fi1" });
  assert.throws(() => parseUplink("eth0"));
  assert.deepEqual(parseDns("static:/x.json"), { kind: "static", file: "/x.json" });
  assert.deepEqual(resolveNetConfig({ uplink: "none" }, {}).dns, { kind: "none" });
  assert.deepEqual(resolveNetConfig({}, {}).dns, { kind: "host" });
  assert.equal(resolveNetConfig({ network: "off" }, {}).enabled, false);
  assert.throws(() => resolveNetConfig({ netRange: "10.0.0.0/40" }, {}));
  assert.deepEqual(resolveNetConfig({}, {}).netOpen, []);
  assert.deepEqual(resolveNetConfig({ netOpen: "Documentation, 10.1.0.0/16" }, {}).netOpen, ["documentation", "10.1.0.0/16"]);
  assert.deepEqual(resolveNetConfig({}, { ATOLL_NET_OPEN: "metadata" }).netOpen, ["metadata"]);
  assert.throws(() => resolveNetConfig({ netOpen: "intranet" }, {}), /neither a range category/);
  assert.deepEqual(nameserversIn("# x\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch a\n"), ["10.255.255.53", "fe80::1"]);
});

test("port ranges: union and difference", () => {
  assert.deepEqual(
    unionRanges(
      [[1, 5]],
      [
        [6, 8],
        [20, 30],
      ],
      [[25, 40]],
    ),
    [
      [1, 8],
      [20, 40],
    ],
  );
  assert.deepEqual(
    subtractRanges(
      [[1, 100]],
      [
        [10, 20],
        [50, 50],
      ],
    ),
    [
      [1, 9],
      [21, 49],
      [51, 100],
    ],
  );
  assert.deepEqual(subtractRanges([[5, 5]], [[1, 10]]), []);
});

test("nft scripts: per-sandbox chains dispatch, literal rules bypass the proxy, host rules proxy 80/443", () => {
  const rules = ["203.0.113.0/24:443", "example.com"].map((e) => (parseNetRule(e) as { value: NetRule }).value);
  const k = { seq: 7, ipv4: "10.73.0.9", ipv6: "fd00:1::9" };
  const add = addSandboxScript(k, compilePolicy(rules), "10.73.0.1", "fd00::1", ["169.254.0.0/16", "fe80::/10"]);
  assert.match(add, /add element inet atoll c4_7 \{ 169\.254\.0\.0\/16 \}\nadd element inet atoll c6_7 \{ fe80::\/10 \}/);
  // Closed ranges are rejected before any rule of the sandbox can accept.
  assert.ok(add.indexOf("f7 ip daddr @c4_7 reject") < add.indexOf("f7 ip daddr 203.0.113.0/24"), "closed before literal rules");
  assert.match(add, /add rule inet atoll f7 ip daddr 203\.0\.113\.0\/24 meta l4proto \{ tcp, udp \} th dport 443 accept/);
  assert.match(add, /add rule inet atoll n7 ip daddr 203\.0\.113\.0\/24 meta l4proto \{ tcp, udp \} th dport 443 return/);
  assert.match(add, /add rule inet atoll n7 meta nfproto ipv4 tcp dport 443 dnat ip to 10\.73\.0\.1:15443/);
  assert.match(add, /add element inet atoll fwd4 \{ 10\.73\.0\.9 : jump f7 \}/);
  assert.ok(!add.includes("f7 accept"), "restricted: no blanket accept");
  assert.match(addSandboxScript(k, compilePolicy(null), "10.73.0.1", "fd00::1", []), /add rule inet atoll f7 accept/);
  assert.ok(
    !addSandboxScript(k, compilePolicy([]), "10.73.0.1", "fd00::1", []).includes("dnat ip to 10.73.0.1:15080\nadd rule inet atoll n7 meta nfproto"),
    "[]: no proxy",
  );
  assert.match(deleteSandboxScript(k), /delete chain inet atoll f7/);
  assert.match(deleteSandboxScript(k), /delete set inet atoll c6_7/);
  assert.equal(setClosedScript(k, ["10.0.0.0/8"]), "flush set inet atoll c4_7\nflush set inet atoll c6_7\nadd element inet atoll c4_7 { 10.0.0.0/8 }\n");
  assert.equal(
    learnScript(k, "2001:db8::1", [
      [22, 22],
      [1000, 2000],
    ]),
    "add element inet atoll l6_7 { 2001:db8::1 . 22, 2001:db8::1 . 1000-2000 }\n",
  );
});
