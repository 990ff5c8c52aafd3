import assert from "node:assert/strict";
import { test } from "node:test";
import { addressFamily, addressValue, canonicalIpv6, formatAddress, inNetwork, isIpv4, mappedIpv4, networkAddress, networkBounds } from "./ip-address.js";
import { parseNetRule } from "./net-rules.js";

const net = (cidr: string) => {
  const [address = "", prefix = ""] = cidr.split("/");
  return { family: addressFamily(address)!, address, prefix: Number(prefix) };
};
const BAD = [
  "",
  "abc",
  "1.2.3",
  "1.2.3.4.5",
  "1.2.3.256",
  "01.2.3.4",
  "0x1.2.3.4",
  " 1.2.3.4",
  "1.2.3.4/8",
  "[::1]",
  "::1%lo",
  "fe80::1%eth0",
  "1::2::3",
  ":::",
  "::ffff:01.2.3.4",
  "g::1",
  "example.com",
];

test("isIpv4 and canonicalIpv6: strict literals only", () => {
  for (const ok of ["0.0.0.0", "10.0.0.1", "255.255.255.255"]) assert.ok(isIpv4(ok), ok);
  for (const bad of BAD) assert.ok(!isIpv4(bad), bad);
  assert.equal(canonicalIpv6("2001:0DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(canonicalIpv6("::ffff:169.254.169.254"), "::ffff:a9fe:a9fe");
  assert.equal(canonicalIpv6("1:0:0:2:0:0:0:3"), "1:0:0:2::3", "the longest run of zeros is compressed");
  assert.equal(canonicalIpv6("::"), "::");
  for (const bad of BAD) assert.equal(canonicalIpv6(bad), null, bad);
  for (const bad of BAD) assert.equal(addressValue(bad), null, bad);
});

test("addressValue and formatAddress are inverse, in both families", () => {
  assert.deepEqual(addressValue("0.0.1.0"), { family: 4, value: 256n });
  assert.deepEqual(addressValue("255.255.255.255"), { family: 4, value: 2n ** 32n - 1n });
  assert.deepEqual(addressValue("::1"), { family: 6, value: 1n });
  assert.deepEqual(addressValue("::ffff:1.2.3.4"), { family: 6, value: 0xffff01020304n });
  assert.equal(formatAddress(4, 0n), "0.0.0.0");
  assert.equal(formatAddress(6, 0n), "::");
  assert.equal(formatAddress(6, 2n ** 128n - 1n), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  assert.equal(formatAddress(6, 0xffff00000000n), "::ffff:0:0", "IPv4-mapped in hex, as the URL parser writes it");
});

test("formatAddress writes IPv6 exactly as canonicalIpv6 does (random addresses, many zero runs)", () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 5000; i++) {
    let value = 0n;
    for (let g = 0; g < 8; g++) value = (value << 16n) | BigInt(next() % 3 === 0 ? next() % 0x10000 : next() % 4 === 0 ? 1 : 0);
    const text = formatAddress(6, value);
    assert.equal(canonicalIpv6(text), text);
    assert.equal(addressValue(text)!.value, value);
  }
});

test("networks: host bits cleared, edge prefixes /0 and /32 (/128), bad input refused", () => {
  assert.equal(networkAddress("203.0.113.7", 24), "203.0.113.0");
  assert.equal(networkAddress("203.0.113.7", 0), "0.0.0.0");
  assert.equal(networkAddress("203.0.113.7", 32), "203.0.113.7");
  assert.equal(networkAddress("2001:db8::ffff", 0), "::");
  assert.equal(networkAddress("2001:db8::ffff", 128), "2001:db8::ffff");
  assert.equal(networkAddress("::ffff:169.254.169.254", 96), "::ffff:0:0");
  assert.deepEqual(networkBounds(net("0.0.0.0/0")), [0n, 2n ** 32n - 1n]);
  assert.deepEqual(networkBounds(net("10.1.2.3/32")), [0x0a010203n, 0x0a010203n]);
  assert.deepEqual(networkBounds(net("::/0")), [0n, 2n ** 128n - 1n]);
  assert.deepEqual(networkBounds(net("10.255.0.0/8")), [0x0a000000n, 0x0affffffn], "bounds of the network, not of the address");
  for (const prefix of [-1, 33, 1.5, Number.NaN]) assert.throws(() => networkBounds({ family: 4, address: "10.0.0.0", prefix }), RangeError, String(prefix));
  assert.throws(() => networkBounds({ family: 4, address: "::1", prefix: 8 }), RangeError, "family mismatch");
  assert.throws(() => networkAddress("10.0.0.256", 8), RangeError);
  // The allowNet grammar masks with the same module.
  assert.deepEqual(parseNetRule("203.0.113.7/0"), { ok: true, value: { kind: "ip", family: 4, address: "0.0.0.0", prefix: 0, port: null } });
  assert.deepEqual(parseNetRule("[2001:db8::1/128]:443"), { ok: true, value: { kind: "ip", family: 6, address: "2001:db8::1", prefix: 128, port: 443 } });
  assert.equal(parseNetRule("10.0.0.0/33").ok, false);
});

test("inNetwork: same family only, /0 and /32 edges, bad input is in nothing", () => {
  assert.ok(inNetwork("10.1.2.3", net("10.0.0.0/8")));
  assert.ok(!inNetwork("11.1.2.3", net("10.0.0.0/8")));
  assert.ok(inNetwork("1.2.3.4", net("0.0.0.0/0")) && inNetwork("255.255.255.255", net("0.0.0.0/0")));
  assert.ok(!inNetwork("::1", net("0.0.0.0/0")), "an IPv6 address is not in an IPv4 network");
  assert.ok(!inNetwork("1.2.3.4", net("::/0")), "nor the other way round");
  assert.ok(inNetwork("10.1.2.3", net("10.1.2.3/32")) && !inNetwork("10.1.2.4", net("10.1.2.3/32")));
  assert.ok(inNetwork("fd12::5", net("fc00::/7")) && !inNetwork("fe80::1", net("fc00::/7")));
  assert.ok(inNetwork("2001:DB8:0:0::1", net("2001:db8::/32")), "any spelling of the address");
  assert.ok(!inNetwork("::ffff:10.1.2.3", net("10.0.0.0/8")), "IPv4-mapped IPv6 is checked through mappedIpv4");
  assert.ok(inNetwork("::ffff:10.1.2.3", net("::ffff:0:0/96")));
  for (const bad of BAD) assert.ok(!inNetwork(bad, net("0.0.0.0/0")) && !inNetwork(bad, net("::/0")), bad);
});

test("mappedIpv4: the IPv4 address inside ::ffff:0:0/96, in either spelling", () => {
  assert.equal(mappedIpv4("::ffff:169.254.169.254"), "169.254.169.254");
  assert.equal(mappedIpv4("::FFFF:a9fe:a9fe"), "169.254.169.254");
  assert.equal(mappedIpv4("0:0:0:0:0:ffff:0:0"), "0.0.0.0");
  assert.equal(mappedIpv4("64:ff9b::a9fe:a9fe"), undefined, "NAT64 is not mapped");
  assert.equal(mappedIpv4("::a9fe:a9fe"), undefined, "IPv4-compatible is not mapped");
  assert.equal(mappedIpv4("::1:ffff:a9fe:a9fe"), undefined);
  assert.equal(mappedIpv4("169.254.169.254"), undefined);
  for (const bad of BAD) assert.equal(mappedIpv4(bad), undefined, bad);
});
