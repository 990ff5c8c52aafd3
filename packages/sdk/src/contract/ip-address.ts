/**
 * IPv4/IPv6 addresses and networks: the one implementation the allowNet grammar (net-rules.ts),
 * the daemon's closed ranges (core/ip-intervals.ts) and netd's policy checks (policy-match.ts)
 * share. Parsing, bytes and network matching come from ipaddr.js (pure JavaScript, no Node
 * APIs: it runs wherever the SDK runs); IPv6 text is validated and made canonical (RFC 5952) by
 * the WHATWG URL parser, which is stricter than ipaddr.js about IPv4 written inside IPv6.
 */
import ipaddr from "ipaddr.js";

export type IpFamily = 4 | 6;

/** A network (or one address: prefix 32 resp. 128) in canonical text form. */
export interface IpNetwork {
  family: IpFamily;
  address: string;
  prefix: number;
}

/**
 * true for a dotted-quad IPv4 address without leading zeros (no octal, hex or short forms).
 *
 * @example isIpv4("10.0.0.1") // true; isIpv4("010.0.0.1") // false
 */
export function isIpv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/**
 * Canonical (RFC 5952) form of an IPv6 address, or null. No zone ids (`%eth0`), no brackets.
 *
 * @example canonicalIpv6("2001:0DB8:0:0:0:0:0:1") // "2001:db8::1"
 */
export function canonicalIpv6(text: string): string | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return null;
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}

/**
 * The family of an address literal (IPv6 without brackets), or null when it is none.
 *
 * @example addressFamily("::1") // 6
 */
export function addressFamily(text: string): IpFamily | null {
  if (isIpv4(text)) return 4;
  return canonicalIpv6(text) === null ? null : 6;
}

/**
 * The bytes of an address (4 or 16), or null when it is not one.
 *
 * @example addressBytes("10.0.0.1") // [10, 0, 0, 1]
 */
export function addressBytes(text: string): number[] | null {
  const family = addressFamily(text);
  if (family === null) return null;
  return ipaddr.parse(family === 4 ? text : canonicalIpv6(text)!).toByteArray();
}

/**
 * An address as an unsigned integer, or null when it is not an address.
 *
 * @example addressValue("0.0.1.0") // { family: 4, value: 256n }
 */
export function addressValue(text: string): { family: IpFamily; value: bigint } | null {
  const bytes = addressBytes(text);
  if (!bytes) return null;
  return { family: bytes.length === 4 ? 4 : 6, value: bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) };
}

/**
 * The canonical text of an address given as an unsigned integer.
 *
 * @example formatAddress(4, 256n) // "0.0.1.0"
 */
export function formatAddress(family: IpFamily, value: bigint): string {
  const bytes: number[] = [];
  for (let i = family === 4 ? 3 : 15; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  const address = ipaddr.fromByteArray(bytes);
  return address.kind() === "ipv4" ? address.toString() : (address as ipaddr.IPv6).toRFC5952String();
}

/**
 * The network address of `address`/`prefix` (host bits cleared), in canonical text.
 *
 * @example networkAddress("203.0.113.7", 24) // "203.0.113.0"
 */
export function networkAddress(address: string, prefix: number): string {
  const v = addressValue(address);
  if (!v) throw new RangeError(`not an IPv4/IPv6 address: ${address}`);
  const [first] = networkBounds({ family: v.family, address, prefix });
  return formatAddress(v.family, first);
}

/**
 * First and last address of a network, as unsigned integers.
 *
 * @example networkBounds({ family: 4, address: "10.0.0.0", prefix: 8 }) // [167772160n, 184549375n]
 */
export function networkBounds(net: IpNetwork): [bigint, bigint] {
  const bits = net.family === 4 ? 32 : 128;
  const v = addressValue(net.address);
  if (!v || v.family !== net.family || !Number.isInteger(net.prefix) || net.prefix < 0 || net.prefix > bits) {
    throw new RangeError(`not an IPv${net.family} network: ${net.address}/${net.prefix}`);
  }
  const size = 1n << BigInt(bits - net.prefix);
  const first = (v.value / size) * size;
  return [first, first + size - 1n];
}

/**
 * true when `address` lies in `net` (same family only: an IPv4-mapped IPv6 address is not in an
 * IPv4 network; check `mappedIpv4` of it as well where that matters).
 *
 * @example inNetwork("10.1.2.3", { family: 4, address: "10.0.0.0", prefix: 8 }) // true
 */
export function inNetwork(address: string, net: IpNetwork): boolean {
  const family = addressFamily(address);
  if (family === null || family !== net.family) return false;
  const a = ipaddr.parse(family === 4 ? address : canonicalIpv6(address)!);
  const n = ipaddr.parse(net.address);
  return a.kind() === n.kind() && a.match(n, net.prefix);
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:169.254.169.254`, also written
 * `::ffff:a9fe:a9fe`): a socket connecting there sends IPv4, so it is checked as IPv4 too.
 *
 * @example mappedIpv4("::ffff:a9fe:a9fe") // "169.254.169.254"
 */
export function mappedIpv4(address: string): string | undefined {
  const c = canonicalIpv6(address);
  if (!c) return undefined;
  const a = ipaddr.IPv6.parse(c);
  return a.isIPv4MappedAddress() ? a.toIPv4Address().toString() : undefined;
}
