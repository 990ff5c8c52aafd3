/**
 * netd: the daemon's resolver and egress proxy, one process per daemon, living in the router
 * namespace as uid/gid 65534 (started by NetdClient through nsenter). It holds every sandbox's
 * policy and secrets in memory, answers DNS on the gateway address, and proxies TCP 80/443.
 *
 * It outlives the daemon (docs/network.md, "Daemon restarts"): it starts as root only to bind its
 * RPC socket (ATOLL_NETD_SOCKET, in a root-only directory of the state dir, mode 0600), then drops
 * to 65534 before it reads anything a sandbox sends. The daemon connects to that socket; the next
 * daemon reconnects, asks what netd serves ("list", "get") and takes over. While no daemon is
 * connected, what needs the daemon fails closed: names whose answer must be admitted into
 * nftables and names forwarded to the host's resolvers get SERVFAIL; nothing new is opened.
 * netd exits when told to ("shutdown"), or when no daemon is connected and no sandbox veth is
 * left in its namespace (nothing left to serve).
 *
 * Config: JSON in ATOLL_NETD_CONFIG (see NetdConfig).
 */
import { chmodSync, rmSync } from "node:fs";
import net from "node:net";
import { networkInterfaces } from "node:os";
import tls from "node:tls";
import { type IpRule, type NetRule, mappedIpv4, parseNetRule } from "atoll/contract";
import { type CertificateAuthority, LeafMinter } from "../cert-authority.js";
import { SandboxBudgets } from "./budgets.js";
import { startDnsServer } from "./dns-server.js";
import { type SandboxPolicy, type SecretRule, isDeniedAddress, nameDecision } from "./policy-match.js";
import { type ProxyContext, createHttpProxy, createTlsProxy } from "./proxies.js";
import { NETD_PROTOCOL } from "./protocol.js";
import { Rpc } from "./rpc.js";
import { SocketEndpoint } from "./socket-endpoint.js";
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

/** While no daemon is connected: how often netd checks whether any sandbox is left to serve. */
const ORPHAN_CHECK_MS = 10_000;

interface Entry extends SandboxPolicy {
  minter: LeafMinter | undefined;
  contexts: Map<string, Promise<tls.SecureContext>>;
  /** As the daemon gave it: handed back to the next daemon ("get"). */
  message: SandboxMessage;
}

const config = JSON.parse(process.env.ATOLL_NETD_CONFIG ?? "{}") as NetdConfig;
const socketPath = process.env.ATOLL_NETD_SOCKET ?? "";
process.title = `atoll-netd ${process.env.ATOLL_NETD_NAME ?? ""}`.trim();
const byId = new Map<string, Entry>();
const byIp = new Map<string, Entry>();
/** The daemon now connected, if any. */
let daemon: { rpc: Rpc; endpoint: SocketEndpoint } | undefined;

function log(message: string, data: Record<string, unknown>): void {
  daemon?.endpoint.send({ netd: "log", message, data });
}

/** A call to the daemon; fails at once (closed) while none is connected. */
function callDaemon<T>(method: string, args: unknown, timeoutMs?: number): Promise<T> {
  if (!daemon) return Promise.reject(new DaemonError("NETWORK_FAILED", "the daemon is not running"));
  return daemon.rpc.call<T>(method, args, timeoutMs);
}

// Last resort: a fault in one connection's handling must not end the resolver and proxy of
// every sandbox. It is logged and netd keeps serving (the daemon restarts netd if it dies anyway).
process.on("uncaughtException", (err) => log("uncaught exception (netd keeps serving)", { error: err.stack ?? String(err) }));
process.on("unhandledRejection", (err) => log("unhandled rejection (netd keeps serving)", { error: (err as Error)?.stack ?? String(err) }));

const budgets = new SandboxBudgets(undefined, (sandboxId, what, count) => log("sandbox over its netd budget: refused", { sandboxId, what, count }));

function upstreamOf(dns: NetdConfig["dns"]): Upstream {
  return dns.kind === "static"
    ? new StaticUpstream(dns.table)
    : dns.kind === "host"
      ? new ForwardingUpstream(async (packet) => Buffer.from(await callDaemon<string>("dnsForward", packet.toString("base64"), 10_000), "base64"))
      : new NoUpstream();
}
// Replaced by "configure" when the next daemon runs with another configuration.
let upstream = upstreamOf(config.dns);
const upstreamRoots = (c: NetdConfig) => [...tls.rootCertificates, ...(c.upstreamCa ? [c.upstreamCa] : [])];

function parseClosed(cidrs: readonly string[]): IpRule[] {
  return cidrs.map((cidr) => {
    const r = parseNetRule(cidr);
    if (!r.ok || r.value.kind !== "ip") throw new DaemonError("NETWORK_FAILED", `bad closed range ${cidr}`);
    return r.value;
  });
}

let denied: IpRule[] = parseClosed(config.denied);
const policyOf = (ip: string) => byIp.get(ip);
const closedFor = (policy: SandboxPolicy, address: string) =>
  [address, mappedIpv4(address)].some((a) => a !== undefined && (isDeniedAddress(a, denied) || isDeniedAddress(a, policy.closed)));

async function admit(ip: string, decision: { ports: [number, number][] | readonly (readonly [number, number])[]; intercept: boolean }, addresses: string[]) {
  await callDaemon("learn", { ip, ports: decision.ports, intercept: decision.intercept, addresses });
}

const ctx: ProxyContext = {
  policyOf,
  lookup: (name) => upstream.lookup(name),
  closedFor,
  budgets,
  upstreamCa: upstreamRoots(config),
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

/** What the daemon may ask; registered on each daemon connection. */
const handlers: Record<string, (m: unknown) => unknown> = {};

handlers.setSandbox = (m) => {
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
    message: s,
  };
  byId.set(s.id, entry);
  byIp.set(s.ipv4, entry);
  byIp.set(s.ipv6, entry);
};

handlers.setRules = (m) => {
  const { id, rules, closed } = m as { id: string; rules: NetRule[] | null; closed: string[] };
  const entry = byId.get(id);
  if (!entry) return;
  entry.closed = parseClosed(closed);
  entry.rules = rules;
  entry.message = { ...entry.message, rules, closed };
};

handlers.forget = (m) => {
  const { id } = m as { id: string };
  const entry = byId.get(id);
  if (!entry) return;
  byId.delete(id);
  byIp.delete(entry.ipv4);
  byIp.delete(entry.ipv6);
  budgets.forget(id);
};

/** sandbox.fetch: resolve a name as this sandbox's resolver would (and admit the addresses). */
handlers.resolveFor = async (m) => {
  const { ip, name } = m as { ip: string; name: string };
  const policy = byIp.get(ip);
  if (!policy) throw new DaemonError("NETWORK_FAILED", "unknown sandbox");
  const decision = nameDecision(policy, name);
  if (!decision.allowed) return [];
  const addresses = (await upstream.lookup(name)).filter((a) => !closedFor(policy, a));
  if (addresses.length > 0 && (decision.ports.length > 0 || decision.intercept)) await admit(ip, decision, addresses);
  return addresses;
};

/** Who this is: a daemon replaces a netd whose protocol differs. Answers once netd serves. */
handlers.hello = async () => {
  await serving;
  return { protocol: NETD_PROTOCOL, pid: process.pid, sandboxes: byId.size };
};
/** Ids of the sandboxes netd serves (for the next daemon). */
handlers.list = () => [...byId.keys()];
/** What the daemon gave for one sandbox: policy, secrets, CA (over the root-only socket only). */
handlers.get = (m) => byId.get((m as { id: string }).id)?.message ?? null;
/** The daemon stops for good (its sandboxes are gone): netd ends after it answered. */
handlers.shutdown = () => {
  setTimeout(() => process.exit(0), 50);
};

/**
 * The next daemon's configuration: upstream DNS, the upstream CA and the denied ranges change in
 * place; other addresses or ports cannot (the daemon then starts a new netd).
 */
handlers.configure = (m) => {
  const next = m as NetdConfig;
  for (const key of ["gateway4", "gateway6", "httpPort", "tlsPort"] as const)
    if (next[key] !== config[key]) throw new DaemonError("NETWORK_FAILED", `netd cannot change ${key} while it runs`);
  upstream = upstreamOf(next.dns);
  dnsDeps.upstream = upstream;
  ctx.upstreamCa = upstreamRoots(next);
  denied = parseClosed(next.denied);
};

/** A daemon connected: it replaces the previous connection. */
function onDaemon(sock: net.Socket): void {
  const endpoint = new SocketEndpoint(sock);
  const rpc = new Rpc(endpoint);
  for (const [method, handler] of Object.entries(handlers)) rpc.handle(method, handler);
  daemon?.endpoint.close();
  const me = { rpc, endpoint };
  daemon = me;
  endpoint.on("disconnect", () => {
    if (daemon === me) daemon = undefined;
  });
}

/** Nothing left to serve: no daemon, and no sandbox veth (atl*) in this namespace. */
function orphaned(): boolean {
  return daemon === undefined && !Object.keys(networkInterfaces()).some((n) => n.startsWith("atl"));
}

/** Binds the RPC socket while still root (root-only: mode 0600 in a root-only directory), then drops to 65534. */
async function bindSocket(): Promise<net.Server> {
  rmSync(socketPath, { force: true });
  const server = net.createServer(onDaemon);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  if (process.getuid?.() === 0) {
    process.setgroups?.([]);
    process.setgid?.(NOBODY);
    process.setuid?.(NOBODY);
  }
  if (process.getuid?.() === 0) throw new DaemonError("NETWORK_FAILED", "netd could not drop root");
  return server;
}

const NOBODY = 65534;
const dnsDeps = { upstream, policyOf, admit, closedFor, budgets, log };
let markServing: () => void = () => undefined;
const serving = new Promise<void>((resolve) => (markServing = resolve));

async function main(): Promise<void> {
  await bindSocket();
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
  markServing();
  setInterval(() => {
    if (orphaned()) process.exit(0);
  }, ORPHAN_CHECK_MS).unref();
  // The interval alone must not keep netd alive; its servers do.
}

main().catch((err: unknown) => {
  process.stderr.write(`netd failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
