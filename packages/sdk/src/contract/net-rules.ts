/**
 * The `allowNet` grammar (docs/network.md), shared by the SDK (validation before sending) and the
 * daemon (enforcement). No Node APIs, so it runs wherever the SDK runs; addresses are
 * ip-address.ts's.
 *
 * Entries: `example.com`, `example.com:443`, `*.example.com` (subdomains at any depth, NOT the
 * apex), `*.example.com:8080`, `203.0.113.7`, `203.0.113.7:80`, `203.0.113.0/24`,
 * `203.0.113.0/24:443`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`, `2001:db8::/32`,
 * `[2001:db8::/32]:443`.
 */
import { canonicalIpv6, isIpv4, networkAddress } from "./ip-address.js";

/** A host name rule: `name` is lowercase ASCII (IDNs in punycode, `xn--…`). */
export interface HostRule {
  kind: "host";
  name: string;
  /** true for `*.name`: every subdomain of `name`, not `name` itself. */
  wildcard: boolean;
  /** null = every port. */
  port: number | null;
}

/** An address or network rule, normalised (`203.0.113.0/24`, `2001:db8::/32`). */
export interface IpRule {
  kind: "ip";
  family: 4 | 6;
  /** Network address in canonical text form. */
  address: string;
  prefix: number;
  port: number | null;
}

export type NetRule = HostRule | IpRule;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function parsePort(text: string): number | null {
  if (!/^[1-9]\d{0,4}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

function parseHost(text: string, port: number | null): ParseResult<HostRule> {
  const lower = text.toLowerCase();
  const wildcard = lower.startsWith("*.");
  const name = wildcard ? lower.slice(2) : lower;
  if (name.length === 0) return { ok: false, error: "a wildcard needs a domain after *., e.g. *.example.com" };
  if (name.includes("*")) return { ok: false, error: "* may only stand alone as the first label, as in *.example.com" };
  if (name.length > 253) return { ok: false, error: "a host name is at most 253 characters" };
  const labels = name.split(".");
  for (const label of labels) {
    if (label === "") return { ok: false, error: "a host name cannot have an empty label (.. or a leading or trailing dot)" };
    if (!LABEL.test(label)) {
      return {
        ok: false,
        error: `"${label}" is not a valid label: use a-z, 0-9 and -, 1-63 characters, not starting or ending with - (IDNs in punycode, xn--…)`,
      };
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) return { ok: false, error: "not a valid IPv4 address or host name" };
  return { ok: true, value: { kind: "host", name, wildcard, port } };
}

function parseIp(text: string, port: number | null): ParseResult<IpRule> | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const family: 4 | 6 | null = isIpv4(addr) ? 4 : canonicalIpv6(addr) ? 6 : null;
  if (family === null) {
    if (prefixText !== undefined && !/^[\d.:a-fA-F]+$/.test(addr))
      return { ok: false, error: "a / is only allowed in a CIDR such as 203.0.113.0/24 (no paths)" };
    if (prefixText !== undefined || /^[\d.]+$/.test(addr) || addr.includes(":")) return { ok: false, error: "not a valid IPv4/IPv6 address or CIDR" };
    return null; // not an address: maybe a host name
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      return { ok: false, error: `bad CIDR prefix "/${prefixText}": use /0 to /${max}` };
    }
    prefix = Number(prefixText);
  }
  const address = networkAddress(addr, prefix);
  return { ok: true, value: { kind: "ip", family, address, prefix, port } };
}

/**
 * Parses one allowNet entry.
 *
 * @example parseNetRule("*.example.com:443") // { ok: true, value: { kind: "host", name: "example.com", wildcard: true, port: 443 } }
 */
export function parseNetRule(entry: string): ParseResult<NetRule> {
  if (typeof entry !== "string" || entry.length === 0) return { ok: false, error: "an entry cannot be empty" };
  if (/\s/.test(entry)) return { ok: false, error: "an entry cannot contain spaces" };
  if (entry === "*") return { ok: false, error: '"*" alone is not allowed: omit allowNet for unrestricted access, or list hosts' };
  if (entry.includes("://")) return { ok: false, error: "give a host name or address, not a URL (no scheme or path)" };
  let host = entry;
  let port: number | null = null;
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close < 0) return { ok: false, error: "missing ] after an IPv6 address" };
    host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return { ok: false, error: "only :port may follow ]" };
      port = parsePort(rest.slice(1));
      if (port === null) return { ok: false, error: `bad port "${rest.slice(1)}": use 1-65535` };
    }
    const ip = parseIp(host, port);
    if (!ip || (ip.ok && ip.value.family !== 6)) return { ok: false, error: "[...] must hold an IPv6 address" };
    return ip;
  }
  const colons = (entry.match(/:/g) ?? []).length;
  if (colons === 1) {
    const i = entry.lastIndexOf(":");
    host = entry.slice(0, i);
    const portText = entry.slice(i + 1);
    port = parsePort(portText);
    if (port === null) return { ok: false, error: `bad port "${portText}": use 1-65535` };
    if (host === "") return { ok: false, error: "a port needs a host before it" };
  }
  const ip = parseIp(host, port);
  if (ip) return ip;
  return parseHost(host, port);
}

/** true when `name` (lowercase, no trailing dot) is covered by `rule`. */
export function hostRuleMatches(rule: HostRule, name: string): boolean {
  if (!rule.wildcard) return name === rule.name;
  return name.length > rule.name.length + 1 && name.endsWith(`.${rule.name}`);
}

/** Name of a secret: an environment variable name. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
