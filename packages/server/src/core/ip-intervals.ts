/**
 * Sets of IP addresses as sorted, disjoint intervals of integers (IPv4 and IPv6 apart), with the
 * set operations the closed-range policy needs (special-ranges.ts), and back to CIDR lists for
 * nftables and netd. Pure; addresses are atoll/contract's (ip-address.ts). Unit-tested in
 * closed-ranges.test.ts.
 */
import { type IpRule, addressValue, formatAddress, networkBounds, parseNetRule } from "atoll/contract";
import { DaemonError } from "../daemon-error.js";

/** Inclusive [first, last] interval of one family. */
export type Interval = readonly [bigint, bigint];

/** Addresses of both families. */
export interface IpSet {
  v4: Interval[];
  v6: Interval[];
}

const BITS = { 4: 32, 6: 128 } as const;

/** Math.max and Math.min take numbers only; these are for bigints. */
const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** Sorted, merged copy. */
function normalize(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) last[1] = maxOf(hi, last[1]);
    else out.push([lo, hi]);
  }
  return out;
}

function subtractList(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  let out = normalize(a);
  for (const [blo, bhi] of normalize(b)) {
    const next: Interval[] = [];
    for (const [lo, hi] of out) {
      if (bhi < lo || blo > hi) next.push([lo, hi]);
      else {
        if (lo < blo) next.push([lo, blo - 1n]);
        if (hi > bhi) next.push([bhi + 1n, hi]);
      }
    }
    out = next;
  }
  return out;
}

function intersectList(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  const x = normalize(a);
  const y = normalize(b);
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const lo = maxOf(x[i]![0], y[j]![0]);
    const hi = minOf(x[i]![1], y[j]![1]);
    if (lo <= hi) out.push([lo, hi]);
    if (x[i]![1] < y[j]![1]) i++;
    else j++;
  }
  return out;
}

/** The addresses of `rules` (IP rules only; ports are ignored). */
export function setOf(rules: readonly IpRule[]): IpSet {
  return {
    v4: normalize(rules.filter((r) => r.family === 4).map((r) => networkBounds(r))),
    v6: normalize(rules.filter((r) => r.family === 6).map((r) => networkBounds(r))),
  };
}

/** The addresses of CIDR strings ("10.0.0.0/8", "::1"); throws on anything else. */
export function setOfCidrs(cidrs: readonly string[]): IpSet {
  return setOf(
    cidrs.map((c) => {
      const r = parseNetRule(c);
      if (!r.ok || r.value.kind !== "ip" || r.value.port !== null) throw new DaemonError("CONFIG_INVALID", `not a CIDR: ${c}`);
      return r.value;
    }),
  );
}

export function union(...sets: IpSet[]): IpSet {
  return { v4: normalize(sets.flatMap((s) => s.v4)), v6: normalize(sets.flatMap((s) => s.v6)) };
}

export function subtract(a: IpSet, b: IpSet): IpSet {
  return { v4: subtractList(a.v4, b.v4), v6: subtractList(a.v6, b.v6) };
}

export function intersect(a: IpSet, b: IpSet): IpSet {
  return { v4: intersectList(a.v4, b.v4), v6: intersectList(a.v6, b.v6) };
}

/** true when every address of `inner` is in `outer`. */
export function covers(outer: IpSet, inner: IpSet): boolean {
  const s = subtract(inner, outer);
  return s.v4.length === 0 && s.v6.length === 0;
}

/** The fewest CIDRs covering exactly one interval. */
function intervalCidrs(family: 4 | 6, [lo, hi]: Interval): string[] {
  const bits = BITS[family];
  const out: string[] = [];
  let start = lo;
  while (start <= hi) {
    // Largest block aligned at `start` that does not pass `hi`.
    let size = 0;
    while (size < bits && (start & ((1n << BigInt(size + 1)) - 1n)) === 0n && start + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push(`${formatAddress(family, start)}/${bits - size}`);
    start += 1n << BigInt(size);
  }
  return out;
}

/** The set as CIDR strings (IPv4 first). */
export function toCidrs(s: IpSet): string[] {
  return [...s.v4.flatMap((i) => intervalCidrs(4, i)), ...s.v6.flatMap((i) => intervalCidrs(6, i))];
}

/** true when `address` (an IPv4 or IPv6 literal) is in `s`. */
export function containsAddress(s: IpSet, address: string): boolean {
  const a = addressValue(address);
  if (!a) return false;
  return (a.family === 6 ? s.v6 : s.v4).some(([lo, hi]) => a.value >= lo && a.value <= hi);
}
