import assert from "node:assert/strict";
import { test } from "node:test";
import { containsAddress, covers, intersect, setOfCidrs, subtract, toCidrs, union } from "./ip-intervals.js";
import { RANGE_CATEGORIES, categoriesOf, closedCidrs, closedSet, parseOpenList } from "./special-ranges.js";

const OWN = ["10.73.0.0/16", "fd12:3456:789a::/48"];

test("interval sets: union, subtract, intersect, back to the fewest CIDRs", () => {
  const a = setOfCidrs(["10.0.0.0/8"]);
  assert.deepEqual(toCidrs(subtract(a, setOfCidrs(["10.73.0.0/16"]))), [
    "10.0.0.0/10",
    "10.64.0.0/13",
    "10.72.0.0/16",
    "10.74.0.0/15",
    "10.76.0.0/14",
    "10.80.0.0/12",
    "10.96.0.0/11",
    "10.128.0.0/9",
  ]);
  assert.deepEqual(toCidrs(union(setOfCidrs(["192.0.2.0/25"]), setOfCidrs(["192.0.2.128/25"]))), ["192.0.2.0/24"]);
  assert.deepEqual(toCidrs(intersect(setOfCidrs(["0.0.0.0/0", "::/0"]), setOfCidrs(["203.0.113.7", "2001:db8::/32"]))), ["203.0.113.7/32", "2001:db8::/32"]);
  assert.deepEqual(toCidrs(subtract(setOfCidrs(["::/0"]), setOfCidrs(["::/1"]))), ["8000::/1"]);
  assert.ok(covers(setOfCidrs(["169.254.0.0/16"]), setOfCidrs(["169.254.169.254"])));
  assert.ok(!covers(setOfCidrs(["10.0.0.0/8"]), setOfCidrs(["10.0.0.0/7"])));
  assert.ok(containsAddress(setOfCidrs(["fc00::/7"]), "fd00:ec2::254"));
  assert.ok(containsAddress(setOfCidrs(["::ffff:0:0/96"]), "::ffff:169.254.169.254"));
  assert.ok(!containsAddress(setOfCidrs(["10.0.0.0/8"]), "11.0.0.1"));
});

test("closed by default: metadata, link-local, private, loopback, CGNAT, documentation, NAT64, multicast, reserved, our own", () => {
  const closed = closedSet([], [], OWN);
  const closedAddresses = [
    "169.254.169.254",
    "fd00:ec2::254",
    "169.254.1.1",
    "fe80::1",
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "fd00::1",
    "100.64.0.1",
    "100.100.100.200",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "2001:db8::1",
    "3fff::1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "192.0.0.8",
    "192.88.99.1",
    "198.18.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::ffff:127.0.0.1",
    "100::1",
    "2001::1",
    "2001:2::1",
    "2002:a9fe:a9fe::1",
    "5f00::1",
    "fec0::1",
    "4000::1",
    "10.73.0.1",
    "fd12:3456:789a::1",
  ];
  for (const a of closedAddresses) assert.ok(containsAddress(closed, a), `${a} is closed`);
  const open = [
    "1.1.1.1",
    "8.8.8.8",
    "192.31.196.1",
    "192.175.48.1",
    "192.52.193.1",
    "2606:4700::1111",
    "2620:4f:8000::1",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
  ];
  for (const a of open) assert.ok(!containsAddress(closed, a), `${a} is the public internet`);
});

test("opening ranges: categories and CIDRs, per daemon and per tenant; metadata only by its name; our own never", () => {
  const docs = closedSet(["documentation"], [], OWN);
  assert.ok(!containsAddress(docs, "203.0.113.10") && !containsAddress(docs, "2001:db8::10"));
  assert.ok(containsAddress(docs, "10.1.2.3"));
  const tenant = closedSet(["documentation"], ["private", "link-local"], OWN);
  assert.ok(!containsAddress(tenant, "10.1.2.3") && !containsAddress(tenant, "169.254.1.1"));
  assert.ok(containsAddress(tenant, "169.254.169.254"), "metadata stays closed when link-local is opened");
  assert.ok(containsAddress(tenant, "fd00:ec2::254"), "and when private (fc00::/7) is opened");
  assert.ok(containsAddress(tenant, "10.73.0.5"), "the daemon's own range stays closed");
  assert.ok(containsAddress(closedSet([], ["169.254.169.254/32"], OWN), "169.254.169.254"), "a CIDR does not open metadata");
  assert.ok(!containsAddress(closedSet([], ["metadata"], OWN), "169.254.169.254"));
  assert.ok(containsAddress(closedSet([], ["metadata"], OWN), "169.254.1.1"), "metadata opens only the metadata addresses");
  const nat64 = closedSet([], ["nat64"], OWN);
  assert.ok(!containsAddress(nat64, "64:ff9b::1"), "a category inside a wider one (reserved ::/3) opens");
  assert.ok(containsAddress(nat64, "::1"));
  assert.ok(closedCidrs([], [], OWN).includes("169.254.169.254/32") || closedCidrs([], [], OWN).includes("169.254.0.0/16"));
});

test("open lists are checked and normalised; error messages name the categories", () => {
  assert.deepEqual(parseOpenList([" Private ", "10.1.0.0/16", "private", ""]), ["private", "10.1.0.0/16"]);
  assert.throws(() => parseOpenList(["intranet"]), /neither a range category/);
  assert.throws(() => parseOpenList(["10.0.0.0/8:80"]), /neither a range category/);
  assert.deepEqual(categoriesOf("169.254.169.254"), ["metadata", "link-local"]);
  assert.deepEqual(categoriesOf("64:ff9b::1"), ["nat64", "reserved"]);
  assert.ok(RANGE_CATEGORIES.every((c) => c.cidrs.length > 0 && c.description.length > 0));
});
