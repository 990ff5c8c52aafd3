/**
 * What a sandbox's policy says about a name or an address (pure; used by the resolver and the
 * proxy in netd, unit-tested on its own).
 */
import { type HostRule, type IpRule, type NetRule, addressFamily, hostRuleMatches, inNetwork } from "atoll/contract";
import type { PortRange } from "../nft-ruleset.js";
import { directPorts, unionRanges } from "../port-ranges.js";

export interface SecretRule {
  name: string;
  placeholder: string;
  value: string;
  hosts: HostRule[];
  /**
   * The value is gone: netd restarted while no daemon ran, and secrets are never written to disk
   * (docs/network.md, "Daemon restarts"). Requests to its hosts are refused, never sent without it.
   */
  lost?: boolean;
}

export interface SandboxPolicy {
  id: string;
  ipv4: string;
  ipv6: string;
  /** null = unrestricted. */
  rules: NetRule[] | null;
  secrets: SecretRule[];
  /** Ranges this sandbox may never reach, whatever its rules (its tenant's closed ranges). */
  closed: IpRule[];
}

/** Lowercase, without a trailing dot. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** "4" / "6" for an IP literal (brackets allowed for IPv6), else null. */
export function ipFamily(host: string): 4 | 6 | null {
  return addressFamily(host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);
}

/** What the resolver does with a query for `name`. */
export interface NameDecision {
  allowed: boolean;
  /** Ports to admit the answer's addresses for (TCP/UDP, never 80/443). */
  ports: PortRange[];
  /** TCP 80/443 to the answer's addresses go through the proxy (secret hosts, unrestricted). */
  intercept: boolean;
}

export function nameDecision(policy: SandboxPolicy, rawName: string): NameDecision {
  const name = normalizeName(rawName);
  const secretHost = policy.secrets.some((s) => s.hosts.some((h) => hostRuleMatches(h, name)));
  if (policy.rules === null) return { allowed: true, ports: [], intercept: secretHost };
  const matching = policy.rules.filter((r): r is HostRule => r.kind === "host" && hostRuleMatches(r, name));
  return { allowed: matching.length > 0, ports: unionRanges(...matching.map(directPorts)), intercept: false };
}

/** May the proxy connect this sandbox to `host` (a name or an IP literal) on `port`? */
export function hostPortAllowed(policy: SandboxPolicy, rawHost: string, port: number): boolean {
  if (policy.rules === null) return true;
  const host = normalizeName(rawHost);
  const family = ipFamily(host);
  if (family !== null) {
    const addr = host.replace(/^\[|\]$/g, "");
    return policy.rules.some((r) => r.kind === "ip" && (r.port === null || r.port === port) && inNetwork(addr, r));
  }
  return policy.rules.some((r) => r.kind === "host" && (r.port === null || r.port === port) && hostRuleMatches(r, host));
}

/** Secrets whose placeholder may be replaced in requests to `host`. */
export function secretsFor(policy: SandboxPolicy, rawHost: string): SecretRule[] {
  const host = normalizeName(rawHost);
  return policy.secrets.filter((s) => s.hosts.some((h) => hostRuleMatches(h, host)));
}

/** Addresses the proxy never dials for a host name (private, loopback, link-local, …). */
export function isDeniedAddress(a: string, denied: readonly IpRule[]): boolean {
  return denied.some((r) => inNetwork(a, r));
}
