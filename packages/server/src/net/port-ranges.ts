/**
 * Port range arithmetic for admitted addresses: nftables refuses overlapping intervals, so what
 * is added for an address is always what was not admitted before.
 */
import type { HostRule } from "atoll/contract";
import type { PortRange } from "./nft-ruleset.js";

/**
 * Ports a host name rule admits directly. TCP/UDP 80 and 443 never do: TCP goes through the proxy
 * (which checks Host/SNI), UDP (QUIC) is refused so clients fall back to TCP.
 */
export function directPorts(rule: HostRule): PortRange[] {
  if (rule.port === null) {
    return [
      [1, 79],
      [81, 442],
      [444, 65535],
    ];
  }
  return rule.port === 80 || rule.port === 443 ? [] : [[rule.port, rule.port]];
}

/** Sorted, merged union. */
export function unionRanges(...lists: readonly (readonly PortRange[])[]): PortRange[] {
  const all = lists.flat().map(([a, b]) => [a, b] as [number, number]);
  all.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of all) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Ports in `a` that are not in `b`. */
export function subtractRanges(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  let rest: [number, number][] = unionRanges(a).map(([x, y]) => [x, y]);
  for (const [blo, bhi] of unionRanges(b)) {
    const next: [number, number][] = [];
    for (const [lo, hi] of rest) {
      if (bhi < lo || blo > hi) next.push([lo, hi]);
      else {
        if (lo < blo) next.push([lo, blo - 1]);
        if (hi > bhi) next.push([bhi + 1, hi]);
      }
    }
    rest = next;
  }
  return rest;
}
