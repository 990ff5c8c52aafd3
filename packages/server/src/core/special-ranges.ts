/**
 * Which destinations sandboxes may never reach unless an operator opens them (docs/network.md,
 * "Closed ranges"): the IANA IPv4 and IPv6 special-purpose address registries (reviewed in
 * 2025), multicast, and IPv6 space outside global unicast (2000::/3), in named categories.
 *
 * Closed ranges win over everything a tenant writes: host names whose answers point there (DNS
 * rebinding), unrestricted egress, and wide CIDRs such as 0.0.0.0/0 never reach them; an IP rule
 * that lies entirely inside them is refused. An operator opens categories or CIDRs for every
 * tenant (`--net-open`) or for one tenant (`atoll tenant net`). `metadata` (cloud instance
 * metadata services) stays closed until it is named itself, even when a CIDR or category around
 * it is opened. The daemon's own ranges (sandboxes, gateway) can never be opened.
 */
import { InvalidArgumentError } from "atoll/contract";
import { type IpSet, containsAddress, setOfCidrs, subtract, toCidrs, union } from "./ip-intervals.js";

export interface RangeCategory {
  name: string;
  description: string;
  cidrs: string[];
}

/**
 * Globally reachable entries of the registries stay open: 192.31.196.0/24 and 192.175.48.0/24
 * (AS112), 192.52.193.0/24 (AMT), 2620:4f:8000::/48 (AS112). 192.0.0.0/24 and 2001::/23 (IETF
 * protocol assignments) are closed whole, with the few anycast services inside them.
 */
export const RANGE_CATEGORIES: readonly RangeCategory[] = [
  {
    name: "metadata",
    description: "cloud instance metadata services (AWS, GCP, Azure, OpenStack, ECS, Alibaba)",
    cidrs: ["169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "fd00:ec2::254/128"],
  },
  { name: "link-local", description: "link-local addresses", cidrs: ["169.254.0.0/16", "fe80::/10"] },
  { name: "loopback", description: "loopback", cidrs: ["127.0.0.0/8", "::1/128"] },
  { name: "private", description: "private networks (RFC 1918) and IPv6 unique-local", cidrs: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"] },
  { name: "cgnat", description: "carrier-grade NAT shared space (RFC 6598)", cidrs: ["100.64.0.0/10"] },
  {
    name: "documentation",
    description: "documentation ranges (TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20)",
    cidrs: ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"],
  },
  { name: "nat64", description: "IPv4/IPv6 translation prefixes: they reach IPv4 through a translator", cidrs: ["64:ff9b::/96", "64:ff9b:1::/48"] },
  { name: "multicast", description: "multicast", cidrs: ["224.0.0.0/4", "ff00::/8"] },
  {
    name: "reserved",
    description: "this network, IETF protocol assignments, benchmarking, 6to4/Teredo tunnels, reserved and broadcast, IPv4-mapped, and IPv6 outside 2000::/3",
    cidrs: [
      "0.0.0.0/8",
      "192.0.0.0/24",
      "192.88.99.0/24",
      "198.18.0.0/15",
      "240.0.0.0/4",
      // IPv6 outside global unicast (::, IPv4-mapped/-compatible, discard 100::/64, SRv6 5f00::/16,
      // site-local fec0::/10, …); the categories above name some of it again.
      "::/3",
      "4000::/2",
      "8000::/2",
      "c000::/3",
      "e000::/4",
      "f000::/5",
      "f800::/6",
      "fe00::/9",
      "fec0::/10",
      // Inside 2000::/3: IETF assignments (Teredo 2001::/32, benchmarking, ORCHID), 6to4.
      "2001::/23",
      "2002::/16",
    ],
  },
];

const CATEGORY_NAMES = RANGE_CATEGORIES.map((c) => c.name);
const byName = new Map(RANGE_CATEGORIES.map((c) => [c.name, c]));
const METADATA = setOfCidrs(byName.get("metadata")!.cidrs);
const ALL_SPECIAL = union(...RANGE_CATEGORIES.map((c) => setOfCidrs(c.cidrs)));

/**
 * Checks an open list (category names or CIDRs) and returns it normalised (lowercase, no
 * duplicates). Throws INVALID_ARGUMENT naming the bad entry.
 *
 * @example parseOpenList(["metadata", "10.1.0.0/16"]) // ["metadata", "10.1.0.0/16"]
 */
export function parseOpenList(entries: readonly string[], what = "net-open"): string[] {
  const out: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (!byName.has(entry)) {
      try {
        setOfCidrs([entry]);
      } catch {
        throw new InvalidArgumentError(
          `${what}: "${raw}" is neither a range category (${CATEGORY_NAMES.join(", ")}) nor an IPv4/IPv6 address or CIDR without a port`,
        );
      }
    }
    if (!out.includes(entry)) out.push(entry);
  }
  return out;
}

/** The addresses an open list opens (metadata only when named). */
function openedBy(open: readonly string[]): { set: IpSet; metadata: boolean } {
  const cidrs = open.flatMap((e) => byName.get(e)?.cidrs ?? [e]);
  return { set: setOfCidrs(cidrs), metadata: open.includes("metadata") };
}

/**
 * The addresses closed for a tenant: every special range minus what the operator opened for
 * every tenant (`daemonOpen`) and for this one (`tenantOpen`), plus the daemon's own ranges.
 */
export function closedSet(daemonOpen: readonly string[], tenantOpen: readonly string[], ownCidrs: readonly string[]): IpSet {
  const opened = openedBy([...daemonOpen, ...tenantOpen]);
  let closed = subtract(ALL_SPECIAL, opened.set);
  if (!opened.metadata) closed = union(closed, METADATA);
  return union(closed, setOfCidrs(ownCidrs));
}

/** `closedSet` as CIDR strings, for nftables and netd. */
export function closedCidrs(daemonOpen: readonly string[], tenantOpen: readonly string[], ownCidrs: readonly string[]): string[] {
  return toCidrs(closedSet(daemonOpen, tenantOpen, ownCidrs));
}

/** The categories an address falls in (for error messages), e.g. ["metadata", "link-local"]. */
export function categoriesOf(address: string): string[] {
  return RANGE_CATEGORIES.filter((c) => containsAddress(setOfCidrs(c.cidrs), address)).map((c) => c.name);
}
