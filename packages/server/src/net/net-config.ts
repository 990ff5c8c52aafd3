/**
 * Network settings of the daemon (`atoll serve` flags and ATOLL_* variables; docs/network.md).
 *
 * The uplink decides where sandbox traffic can go at all:
 *   host         NAT through the host's default route (production; sets the host's ip_forward)
 *   none         nowhere: sandboxes reach only the daemon's resolver and proxy (tests' default)
 *   netns:NAME   into the network namespace NAME (tests: a fake internet they built)
 * The resolver's upstream:
 *   host         the host's resolvers from /etc/resolv.conf (default with uplink host)
 *   none         every name fails (default otherwise)
 *   static:FILE  a JSON table { "name": ["203.0.113.7", "2001:db8::7"] } and nothing else (tests)
 */
import { parseRange4 } from "./address-plan.js";
import { parseOpenList } from "../core/special-ranges.js";
import { DaemonError } from "../daemon-error.js";

export type UplinkSpec = { kind: "host" } | { kind: "none" } | { kind: "netns"; name: string };
export type DnsSpec = { kind: "host" } | { kind: "none" } | { kind: "static"; file: string };

export interface NetConfig {
  /** false: sandboxes get an empty network namespace with loopback only (no allowNet, no expose). */
  enabled: boolean;
  uplink: UplinkSpec;
  dns: DnsSpec;
  /** Private IPv4 range sandboxes get their addresses from. */
  range4: string;
  /** PEM file of extra CAs the proxy trusts when it verifies upstream servers (tests' CA). */
  upstreamCaFile: string | undefined;
  /** Closed range categories or CIDRs opened for every tenant (`--net-open`; special-ranges.ts). */
  netOpen: string[];
}

export const DEFAULT_NET_RANGE = "10.73.0.0/16";

export function parseUplink(text: string): UplinkSpec {
  if (text === "host" || text === "none") return { kind: text };
  const m = /^netns:([A-Za-z0-9_.-]{1,64})$/.exec(text);
  if (m) return { kind: "netns", name: m[1]! };
  throw new DaemonError("CONFIG_INVALID", `--uplink must be host, none or netns:NAME, got "${text}"`);
}

export function parseDns(text: string): DnsSpec {
  if (text === "host" || text === "none") return { kind: text };
  if (text.startsWith("static:") && text.length > "static:".length) return { kind: "static", file: text.slice("static:".length) };
  throw new DaemonError("CONFIG_INVALID", `--dns must be host, none or static:FILE, got "${text}"`);
}

export function resolveNetConfig(
  opts: { network?: string; uplink?: string; dns?: string; netRange?: string; upstreamCa?: string; netOpen?: string },
  env: NodeJS.ProcessEnv = process.env,
): NetConfig {
  const network = opts.network ?? env.ATOLL_NETWORK ?? "on";
  if (network !== "on" && network !== "off") throw new DaemonError("CONFIG_INVALID", `--network must be on or off, got "${network}"`);
  const uplink = parseUplink(opts.uplink ?? env.ATOLL_UPLINK ?? "host");
  // Never forward names to the host's resolvers unless traffic may reach the host's uplink too.
  const dns = parseDns(opts.dns ?? env.ATOLL_DNS ?? (uplink.kind === "host" ? "host" : "none"));
  const range4 = opts.netRange ?? env.ATOLL_NET_RANGE ?? DEFAULT_NET_RANGE;
  parseRange4(range4);
  const upstreamCa = opts.upstreamCa ?? env.ATOLL_UPSTREAM_CA;
  const netOpen = parseOpenList((opts.netOpen ?? env.ATOLL_NET_OPEN ?? "").split(","), "--net-open");
  return { enabled: network === "on", uplink, dns, range4, upstreamCaFile: upstreamCa || undefined, netOpen };
}
