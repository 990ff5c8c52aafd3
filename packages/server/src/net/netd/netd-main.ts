/**
 * netd: the daemon's resolver and egress proxy, one process per daemon, living in the router
 * namespace as uid/gid 65534 (started by NetdClient through nsenter). It holds every sandbox's
 * policy and secrets in memory, answers DNS on the gateway address, and proxies TCP 80/443.
 * It exits when its IPC channel to the daemon closes, so it never outlives the daemon.
 *
 * Config: JSON in ATOLL_NETD_CONFIG (see NetdConfig).
 */
import tls from "node:tls";
import { type IpRule, type NetRule, mappedIpv4, parseNetRule } from "atoll/contract";
import { type CertificateAuthority, LeafMinter } from "../cert-authority.js";
import { SandboxBudgets } from "./budgets.js";
import { startDnsServer } from "./dns-server.js";
import { type SandboxPolicy, type SecretRule, isDeniedAddress, nameDecision } from "./policy-match.js";
import { type ProxyContext, createHttpProxy, createTlsProxy } from "./proxies.js";
import { type IpcEndpoint, Rpc } from "./rpc.js";
import { ForwardingUpstream, NoUpstream, StaticUpstream, type Upstream } from "./upstream-dns.js";
import { DaemonError } from "../../daemon-error.js";

export interface NetdConfig {
  gateway4: string;
  gateway6: string;
  httpPort: number;
  tlsPort: number;
  dns: { kind: "static"; table: Record<string, string[]> } | { kind: "host" } | { kind: "none" };
  /** Extra PEM roots for upstream servers (tests' CA). */
  upstreamCa: string | null;
  /** CIDRs no sandbox ever reaches (the daemon's own ranges); each sandbox adds its closed ranges. */
  denied: string[];
}

interface Entry extends SandboxPolicy {
  minter: LeafMinter | undefined;
  contexts: Map<string, Promise<tls.SecureContext>>;
}

process.title = "atoll-netd";
const config = JSON.parse(process.env.ATOLL_NETD_CONFIG ?? "{}") as NetdConfig;
const rpc = new Rpc(process as unknown as IpcEndpoint);
const byId = new Map<string, Entry>();
const byIp = new Map<string, Entry>();

function log(message: string, data: Record<string, unknown>): void {
  if (process.connected) process.send?.({ netd: "log", message, data });
}

// Last resort: a fault in one connection's handling must not end the resolver and proxy of
// every sandbox. It is logged and netd keeps serving (the daemon restarts netd if it dies anyway).
process.on("uncaughtException", (err) => log("uncaught exception (netd keeps serving)", { error: err.stack ?? String(err) }));
process.on("unhandledRejection", (err) => log("unhandled rejection (netd keeps serving)", { error: (err as Error)?.stack ?? String(err) }));

const budgets = new SandboxBudgets(undefined, (sandboxId, what, count) => log("sandbox over its netd budget: refused", { sandboxId, what, count }));

const upstream: Upstream =
  config.dns.kind === "static"
    ? new StaticUpstream(config.dns.table)
    : config.dns.kind === "host"
      ? new ForwardingUpstream(async (packet) => Buffer.from(await rpc.call<string>("dnsForward", packet.toString("base64"), 10_000), "base64"))
      : new NoUpstream();

function parseClosed(cidrs: readonly string[]): IpRule[] {
  return cidrs.map((cidr) => {
    const r = parseNetRule(cidr);
    if (!r.ok || r.value.kind !== "ip") throw new DaemonError("NETWORK_FAILED", `bad closed range ${cidr}`);
    return r.value;
  });
}

const denied: IpRule[] = parseClosed(config.denied);
const policyOf = (ip: string) => byIp.get(ip);
const closedFor = (policy: SandboxPolicy, address: string) =>
  [address, mappedIpv4(address)].some((a) => a !== undefined && (isDeniedAddress(a, denied) || isDeniedAddress(a, policy.closed)));

async function admit(ip: string, decision: { ports: [number, number][] | readonly (readonly [number, number])[]; intercept: boolean }, addresses: string[]) {
  await rpc.call("learn", { ip, ports: decision.ports, intercept: decision.intercept, addresses });
}

const ctx: ProxyContext = {
  policyOf,
  lookup: (name) => upstream.lookup(name),
  closedFor,
  budgets,
  upstreamCa: [...tls.rootCertificates, ...(config.upstreamCa ? [config.upstreamCa] : [])],
  interceptContext(policy, name) {
    const entry = byId.get(policy.id)!;
    if (!entry.minter) return Promise.reject(new DaemonError("NETWORK_FAILED", "this sandbox has no CA"));
    let c = entry.contexts.get(name);
    if (!c) {
      c = entry.minter.mint(name).then(({ certPem, keyPem }) => tls.createSecureContext({ cert: certPem, key: keyPem }));
      entry.contexts.set(name, c);
    }
    return c;
  },
  log,
};

interface SandboxMessage {
  id: string;
  ipv4: string;
  ipv6: string;
  rules: NetRule[] | null;
  secrets: SecretRule[];
  closed: string[];
  ca: CertificateAuthority | null;
}

rpc.handle("setSandbox", (m) => {
  const s = m as SandboxMessage;
  const entry: Entry = {
    id: s.id,
    ipv4: s.ipv4,
    ipv6: s.ipv6,
    rules: s.rules,
    secrets: s.secrets,
    closed: parseClosed(s.closed),
    minter: s.ca ? new LeafMinter(s.ca) : undefined,
    contexts: new Map(),
  };
  byId.set(s.id, entry);
  byIp.set(s.ipv4, entry);
  byIp.set(s.ipv6, entry);
});

rpc.handle("setRules", (m) => {
  const { id, rules, closed } = m as { id: string; rules: NetRule[] | null; closed: string[] };
  const entry = byId.get(id);
  if (!entry) return;
  entry.rules = rules;
  entry.closed = parseClosed(closed);
});

rpc.handle("forget", (m) => {
  const { id } = m as { id: string };
  const entry = byId.get(id);
  if (!entry) return;
  byId.delete(id);
  byIp.delete(entry.ipv4);
  byIp.delete(entry.ipv6);
  budgets.forget(id);
});

/** sandbox.fetch: resolve a name as this sandbox's resolver would (and admit the addresses). */
rpc.handle("resolveFor", async (m) => {
  const { ip, name } = m as { ip: string; name: string };
  const policy = byIp.get(ip);
  if (!policy) throw new DaemonError("NETWORK_FAILED", "unknown sandbox");
  const decision = nameDecision(policy, name);
  if (!decision.allowed) return [];
  const addresses = (await upstream.lookup(name)).filter((a) => !closedFor(policy, a));
  if (addresses.length > 0 && (decision.ports.length > 0 || decision.intercept)) await admit(ip, decision, addresses);
  return addresses;
});

async function main(): Promise<void> {
  const dnsDeps = { upstream, policyOf, admit, closedFor, budgets, log };
  await startDnsServer(dnsDeps, config.gateway4);
  await startDnsServer(dnsDeps, config.gateway6);
  const httpProxy = createHttpProxy(ctx);
  const tlsProxy = createTlsProxy(ctx);
  await new Promise<void>((resolve, reject) => {
    httpProxy.once("error", reject);
    httpProxy.listen(config.httpPort, "::", () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    tlsProxy.once("error", reject);
    tlsProxy.listen(config.tlsPort, "::", () => resolve());
  });
  process.send?.({ netd: "ready" });
}

process.on("disconnect", () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ netd: "failed", error: (err as Error).stack ?? String(err) });
  process.exit(1);
});
