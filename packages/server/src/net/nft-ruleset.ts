/**
 * The nftables ruleset of the router namespace (docs/network.md, "Enforcement"), as text for
 * `nft -f -`. It lives inside the router namespace only: the host's own tables are never touched
 * (except by the `host` uplink, see host-uplink.ts).
 *
 * Base chains dispatch on the sandbox's source address through verdict maps into per-sandbox
 * chains, so a sandbox's policy is replaced atomically with `flush chain` + new rules:
 *   f<seq>   forward: the sandbox's closed ranges (c4_/c6_<seq>, special-ranges.ts) are
 *            rejected first, then IP/CIDR rules, then "open" or the addresses the resolver
 *            admitted for allowed names (set l4_<seq>/l6_<seq>: address . port range)
 *   n<seq>   prerouting nat: IP/CIDR rules bypass the proxy; TCP 80/443 of sandboxes with host
 *            name rules, and to intercepted addresses (i4_/i6_<seq>: secret hosts), go to the proxy
 * The source address is trustworthy: the antispoof chain drops anything a sandbox sends from an
 * address that does not route back through its own veth.
 */
import type { IpRule, NetRule } from "atoll/contract";

export const TABLE = "atoll";
/** Prefix of every sandbox veth in the router namespace. */
export const SANDBOX_IF_PREFIX = "atl";
/** The router's end of the uplink veth (must not start with SANDBOX_IF_PREFIX). */
export const UPLINK_IF = "uplink0";
export const PROXY_HTTP_PORT = 15080;
export const PROXY_TLS_PORT = 15443;
/** Packets to the resolver per second one sandbox address may send (and twice that in a burst). */
export const DNS_PACKETS_PER_SECOND = 500;
/** New connections to the proxies per second one sandbox address may open (twice that in a burst). */
export const PROXY_CONNECTIONS_PER_SECOND = 200;

export interface RulesetParams {
  gateway4: string;
  gateway6: string;
  /**
   * What netd (the resolver and the proxy) may never dial: the ranges closed for every sandbox
   * (core/special-ranges.ts) and the daemon's own. Kept up to date with setProxyDenyScript.
   */
  proxyDeny: string[];
}

const SBX_IF = `"${SANDBOX_IF_PREFIX}*"`;

/** The whole table, created once when the router namespace is set up. */
export function baseRuleset(p: RulesetParams): string {
  return `
table inet ${TABLE} {
  set deny4 { type ipv4_addr; flags interval; auto-merge; }
  set deny6 { type ipv6_addr; flags interval; auto-merge; }
  map fwd4 { type ipv4_addr : verdict; }
  map fwd6 { type ipv6_addr : verdict; }
  map nat4 { type ipv4_addr : verdict; }
  map nat6 { type ipv6_addr : verdict; }

  chain antispoof {
    type filter hook prerouting priority raw; policy accept;
    # A sandbox can bind a foreign source address (IP_FREEBIND): only its own may pass.
    iifname ${SBX_IF} meta nfproto ipv4 fib saddr . iif oif missing drop
    iifname ${SBX_IF} ip6 saddr != { ::, fe80::/10 } fib saddr . iif oif missing drop
  }

  chain to_proxy {
    type nat hook prerouting priority dstnat; policy accept;
    iifname != ${SBX_IF} return
    ip saddr vmap @nat4
    ip6 saddr vmap @nat6
  }

  # Per-sandbox packet budgets for the resolver and new proxy connections (before conntrack
  # accepts: repeated UDP queries from one port count as "established"). netd has its own,
  # finer budgets; these keep one sandbox's flood from filling the shared sockets' queues.
  set dnsrate4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }
  set dnsrate6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 1m; }
  set connrate4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }
  set connrate6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 1m; }

  chain input {
    type filter hook input priority filter; policy drop;
    iif lo accept
    iifname ${SBX_IF} meta l4proto { tcp, udp } th dport 53 update @dnsrate4 { ip saddr limit rate over ${DNS_PACKETS_PER_SECOND}/second burst ${DNS_PACKETS_PER_SECOND * 2} packets } drop
    iifname ${SBX_IF} meta l4proto { tcp, udp } th dport 53 update @dnsrate6 { ip6 saddr limit rate over ${DNS_PACKETS_PER_SECOND}/second burst ${DNS_PACKETS_PER_SECOND * 2} packets } drop
    iifname ${SBX_IF} ct state new tcp dport { ${PROXY_HTTP_PORT}, ${PROXY_TLS_PORT} } update @connrate4 { ip saddr limit rate over ${PROXY_CONNECTIONS_PER_SECOND}/second burst ${PROXY_CONNECTIONS_PER_SECOND * 2} packets } reject with tcp reset
    iifname ${SBX_IF} ct state new tcp dport { ${PROXY_HTTP_PORT}, ${PROXY_TLS_PORT} } update @connrate6 { ip6 saddr limit rate over ${PROXY_CONNECTIONS_PER_SECOND}/second burst ${PROXY_CONNECTIONS_PER_SECOND * 2} packets } reject with tcp reset
    ct state established,related accept
    ct state invalid drop
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
    iifname ${SBX_IF} ip daddr ${p.gateway4} meta l4proto { tcp, udp } th dport 53 accept
    iifname ${SBX_IF} ip daddr ${p.gateway4} tcp dport { ${PROXY_HTTP_PORT}, ${PROXY_TLS_PORT} } accept
    iifname ${SBX_IF} ip6 daddr ${p.gateway6} meta l4proto { tcp, udp } th dport 53 accept
    iifname ${SBX_IF} ip6 daddr ${p.gateway6} tcp dport { ${PROXY_HTTP_PORT}, ${PROXY_TLS_PORT} } accept
    iifname ${SBX_IF} reject with icmpx admin-prohibited
  }

  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname != ${SBX_IF} drop
    # Sandboxes talk to the uplink only: never to each other or anything else.
    oifname != "${UPLINK_IF}" reject with icmpx admin-prohibited
    ip saddr vmap @fwd4
    ip6 saddr vmap @fwd6
    reject with icmpx admin-prohibited
  }

  chain output {
    type filter hook output priority filter; policy accept;
    # The resolver and the proxy dial out through the uplink, never to private addresses
    # (neighbour discovery to the uplink's peer goes to multicast and must pass).
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
    oifname "${UPLINK_IF}" ip daddr @deny4 reject with icmpx admin-prohibited
    oifname "${UPLINK_IF}" ip6 daddr @deny6 reject with icmpx admin-prohibited
  }

  chain nat_out {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${UPLINK_IF}" masquerade
  }
}
${setProxyDenyScript(p.proxyDeny)}`;
}

/** `add element` lines for an interval set of one family ("" when there is nothing to add). */
function elements(set: string, cidrs: readonly string[]): string {
  return cidrs.length === 0 ? "" : `add element inet ${TABLE} ${set} { ${cidrs.join(", ")} }\n`;
}

const v4 = (cidrs: readonly string[]) => cidrs.filter((c) => !c.includes(":"));
const v6 = (cidrs: readonly string[]) => cidrs.filter((c) => c.includes(":"));

/** Replaces what netd may never dial (one transaction). */
export function setProxyDenyScript(cidrs: readonly string[]): string {
  return `flush set inet ${TABLE} deny4\nflush set inet ${TABLE} deny6\n${elements("deny4", v4(cidrs))}${elements("deny6", v6(cidrs))}`;
}

/** A sandbox's policy in the terms of the ruleset. */
export interface CompiledPolicy {
  /** Unrestricted egress (allowNet omitted). */
  open: boolean;
  /** TCP 80/443 go to the proxy (there are host name rules). */
  proxied: boolean;
  /** IP/CIDR rules. */
  literal: IpRule[];
}

/** A sandbox's allowNet in the terms of the ruleset. */
export function compilePolicy(rules: readonly NetRule[] | null): CompiledPolicy {
  if (rules === null) return { open: true, proxied: false, literal: [] };
  return {
    open: false,
    proxied: rules.some((r) => r.kind === "host"),
    literal: rules.filter((r): r is IpRule => r.kind === "ip"),
  };
}

export interface SandboxKeys {
  /** Unique per daemon run; names the sandbox's chains and sets. */
  seq: number;
  ipv4: string;
  ipv6: string;
}

const L4 = "meta l4proto { tcp, udp }";

function literalMatch(r: IpRule): string {
  const addr = r.prefix === (r.family === 4 ? 32 : 128) ? r.address : `${r.address}/${r.prefix}`;
  return `${r.family === 4 ? "ip" : "ip6"} daddr ${addr}${r.port === null ? "" : ` ${L4} th dport ${r.port}`}`;
}

function policyRules(k: SandboxKeys, p: CompiledPolicy, gateway4: string, gateway6: string): string {
  const f = `add rule inet ${TABLE} f${k.seq}`;
  const n = `add rule inet ${TABLE} n${k.seq}`;
  // Closed ranges first: no rule of the sandbox, however wide, opens them.
  const lines: string[] = [`${f} ip daddr @c4_${k.seq} reject with icmpx admin-prohibited`, `${f} ip6 daddr @c6_${k.seq} reject with icmpx admin-prohibited`];
  for (const r of p.literal) {
    lines.push(`${f} ${literalMatch(r)} accept`);
    lines.push(`${n} ${literalMatch(r)} return`);
  }
  if (p.open) lines.push(`${f} accept`);
  lines.push(`${f} ${L4} ip daddr . th dport @l4_${k.seq} accept`);
  lines.push(`${f} ${L4} ip6 daddr . th dport @l6_${k.seq} accept`);
  lines.push(`${f} reject with icmpx admin-prohibited`);
  const to4 = (port: number) => `dnat ip to ${gateway4}:${port}`;
  const to6 = (port: number) => `dnat ip6 to [${gateway6}]:${port}`;
  for (const [dport, proxyPort] of [
    [80, PROXY_HTTP_PORT],
    [443, PROXY_TLS_PORT],
  ] as const) {
    if (p.proxied) {
      lines.push(`${n} meta nfproto ipv4 tcp dport ${dport} ${to4(proxyPort)}`);
      lines.push(`${n} meta nfproto ipv6 tcp dport ${dport} ${to6(proxyPort)}`);
    }
    lines.push(`${n} ip daddr @i4_${k.seq} tcp dport ${dport} ${to4(proxyPort)}`);
    lines.push(`${n} ip6 daddr @i6_${k.seq} tcp dport ${dport} ${to6(proxyPort)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Replaces a sandbox's closed ranges (CIDRs of both families; one transaction). */
export function setClosedScript(k: SandboxKeys, closed: readonly string[]): string {
  return `flush set inet ${TABLE} c4_${k.seq}\nflush set inet ${TABLE} c6_${k.seq}\n${elements(`c4_${k.seq}`, v4(closed))}${elements(`c6_${k.seq}`, v6(closed))}`;
}

/** Creates a sandbox's sets, chains and dispatch entries (one transaction). */
export function addSandboxScript(k: SandboxKeys, p: CompiledPolicy, gateway4: string, gateway6: string, closed: readonly string[]): string {
  const t = `inet ${TABLE}`;
  return (
    `add set ${t} c4_${k.seq} { type ipv4_addr; flags interval; }\n` +
    `add set ${t} c6_${k.seq} { type ipv6_addr; flags interval; }\n` +
    elements(`c4_${k.seq}`, v4(closed)) +
    elements(`c6_${k.seq}`, v6(closed)) +
    `add set ${t} l4_${k.seq} { type ipv4_addr . inet_service; flags interval; }\n` +
    `add set ${t} l6_${k.seq} { type ipv6_addr . inet_service; flags interval; }\n` +
    `add set ${t} i4_${k.seq} { type ipv4_addr; }\n` +
    `add set ${t} i6_${k.seq} { type ipv6_addr; }\n` +
    `add chain ${t} f${k.seq}\n` +
    `add chain ${t} n${k.seq}\n` +
    policyRules(k, p, gateway4, gateway6) +
    `add element ${t} fwd4 { ${k.ipv4} : jump f${k.seq} }\n` +
    `add element ${t} fwd6 { ${k.ipv6} : jump f${k.seq} }\n` +
    `add element ${t} nat4 { ${k.ipv4} : jump n${k.seq} }\n` +
    `add element ${t} nat6 { ${k.ipv6} : jump n${k.seq} }\n`
  );
}

/** Replaces a sandbox's policy (one transaction); addresses admitted before are forgotten. */
export function replacePolicyScript(k: SandboxKeys, p: CompiledPolicy, gateway4: string, gateway6: string): string {
  const t = `inet ${TABLE}`;
  return (
    `flush chain ${t} f${k.seq}\n` +
    `flush chain ${t} n${k.seq}\n` +
    `flush set ${t} l4_${k.seq}\nflush set ${t} l6_${k.seq}\nflush set ${t} i4_${k.seq}\nflush set ${t} i6_${k.seq}\n` +
    policyRules(k, p, gateway4, gateway6)
  );
}

/**
 * Rewrites an adopted sandbox's rules from the store (one transaction): its chains are replaced,
 * its closed ranges set again; addresses it admitted stay (they were admitted for this policy).
 */
export function readoptScript(k: SandboxKeys, p: CompiledPolicy, gateway4: string, gateway6: string, closed: readonly string[]): string {
  const t = `inet ${TABLE}`;
  return `flush chain ${t} f${k.seq}\nflush chain ${t} n${k.seq}\n${policyRules(k, p, gateway4, gateway6)}${setClosedScript(k, closed)}`;
}

/** Removes everything addSandboxScript made (one transaction). */
export function deleteSandboxScript(k: SandboxKeys): string {
  const t = `inet ${TABLE}`;
  return (
    `delete element ${t} fwd4 { ${k.ipv4} }\n` +
    `delete element ${t} fwd6 { ${k.ipv6} }\n` +
    `delete element ${t} nat4 { ${k.ipv4} }\n` +
    `delete element ${t} nat6 { ${k.ipv6} }\n` +
    `flush chain ${t} f${k.seq}\nflush chain ${t} n${k.seq}\n` +
    `delete chain ${t} f${k.seq}\ndelete chain ${t} n${k.seq}\n` +
    `delete set ${t} l4_${k.seq}\ndelete set ${t} l6_${k.seq}\ndelete set ${t} i4_${k.seq}\ndelete set ${t} i6_${k.seq}\n` +
    `delete set ${t} c4_${k.seq}\ndelete set ${t} c6_${k.seq}\n`
  );
}

/** An inclusive port range. */
export type PortRange = readonly [number, number];

/** Admits `address` on `ports` for a sandbox (resolver answers for allowed names). */
export function learnScript(k: SandboxKeys, address: string, ports: readonly PortRange[]): string {
  if (ports.length === 0) return "";
  const v6 = address.includes(":");
  const items = ports.map(([lo, hi]) => `${address} . ${lo === hi ? lo : `${lo}-${hi}`}`);
  return `add element inet ${TABLE} ${v6 ? "l6" : "l4"}_${k.seq} { ${items.join(", ")} }\n`;
}

/** Sends TCP 80/443 to `address` through the proxy for a sandbox (secret hosts). */
export function interceptScript(k: SandboxKeys, address: string): string {
  return `add element inet ${TABLE} ${address.includes(":") ? "i6" : "i4"}_${k.seq} { ${address} }\n`;
}
