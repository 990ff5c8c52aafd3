/**
 * Addresses of one daemon's network (docs/network.md, "Addressing"). Every sandbox gets one IPv4
 * address from the configured private range and one IPv6 address from a ULA prefix derived from
 * the state directory; both are /32 resp. /128 on a point-to-point veth to the router namespace.
 *
 *   range 10.73.0.0/16:  .0.1 gateway (router, DNS)   .0.2… sandboxes   last /30: uplink transit
 *   ULA fdXX:XXXX:XXXX::/48:  ::1 gateway   :1::<n> sandbox n   :ffff::1/::2 uplink transit
 */
import { createHash } from "node:crypto";
import { formatAddress, isIpv4, networkBounds } from "atoll/contract";
import { DaemonError } from "../daemon-error.js";

export interface AddressPlan {
  /** "10.73.0.0/16" as configured. */
  range4: string;
  /** The daemon's IPv6 ULA prefix, "fdXX:XXXX:XXXX::/48". */
  range6: string;
  /** Address of the router every sandbox talks to: its default gateway and DNS server. */
  gateway4: string;
  gateway6: string;
  /** Router side of every sandbox veth: the sandbox's IPv6 default route points here. */
  linkLocal6: string;
  /** Uplink transit network between the router and the uplink's peer. */
  transit4: { router: string; peer: string; prefix: number };
  transit6: { router: string; peer: string; prefix: number };
  /** How many sandboxes fit. */
  capacity: number;
  /** Addresses of sandbox number `n` (1…capacity). */
  sandbox(n: number): { ipv4: string; ipv6: string };
}

const intToIpv4 = (n: number): string => formatAddress(4, BigInt(n));

/** Parses "10.73.0.0/16" (prefix 8…28); throws a readable Error. */
export function parseRange4(range: string): { base: number; prefix: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(range);
  const prefix = Number(m?.[2]);
  if (!m || !isIpv4(m[1]!) || prefix < 8 || prefix > 28)
    throw new DaemonError("CONFIG_INVALID", `--net-range must be an IPv4 network like 10.73.0.0/16 (prefix /8 to /28), got "${range}"`);
  return { base: Number(networkBounds({ family: 4, address: m[1]!, prefix })[0]), prefix };
}

/** fdXX:XXXX:XXXX, a ULA /48 derived from `seed` (the state directory). */
export function ulaPrefix(seed: string): string {
  const h = createHash("sha256").update(seed).digest();
  const g = (i: number) => ((h[i]! << 8) | h[i + 1]!).toString(16);
  return `fd${h[0]!.toString(16).padStart(2, "0")}:${g(1)}:${g(3)}`;
}

export function buildAddressPlan(range4: string, seed: string): AddressPlan {
  const { base, prefix } = parseRange4(range4);
  const size = 2 ** (32 - prefix);
  const transitBase = base + size - 4;
  const ula = ulaPrefix(seed);
  return {
    range4: `${intToIpv4(base)}/${prefix}`,
    range6: `${ula}::/48`,
    gateway4: intToIpv4(base + 1),
    gateway6: `${ula}::1`,
    linkLocal6: "fe80::1",
    transit4: { router: intToIpv4(transitBase + 1), peer: intToIpv4(transitBase + 2), prefix: 30 },
    transit6: { router: `${ula}:ffff::1`, peer: `${ula}:ffff::2`, prefix: 64 },
    capacity: size - 6,
    sandbox(n: number) {
      if (!Number.isInteger(n) || n < 1 || n > size - 6) throw new RangeError(`sandbox number ${n} is outside 1…${size - 6}`);
      return { ipv4: intToIpv4(base + 1 + n), ipv6: `${ula}:1::${n.toString(16)}` };
    },
  };
}
