/**
 * An in-memory NetworkDriver for the fast tier, honest to the contract the Linux driver keeps
 * (testing/contracts/network-contract.ts): addresses from the same address plan, the same closed
 * ranges, the egress policy decided per connection as nftables and netd decide it (closed ranges
 * first, then IP rules, then "open" or the addresses a name admitted for its ports), the same
 * errors. Servers are functions: `listen` puts one inside a sandbox's network, `serveOutside`
 * one on the fake internet; `names` is the resolver's table. Connections are in-memory stream
 * pairs (no flow control beyond the streams' own buffers). Secrets get a real sandbox CA; TLS
 * interception itself is not modelled.
 *
 * Restarts: what a Linux driver leaves on the host (namespaces with their policy state, the
 * surviving netd's secrets and CA) lives in a FakeNetHost; a second FakeNetwork on the same host
 * adopts the first one's sandboxes (start(keep), adopt, dropUnadopted), as after a daemon restart.
 *
 * @example
 *   const net = new FakeNetwork({ names: { "example.com": ["203.0.113.7"] } });
 *   net.serveOutside("203.0.113.7", 80, (sock) => sock.pipe(sock));
 *   const a = await net.attach("sbx_1", { allowNet: null, secrets: [], closed: net.closedRanges([]) });
 */
import { Duplex } from "node:stream";
import { type IpRule, type NetRule, NetworkError, hostRuleMatches, isIpv4 } from "atoll/contract";
import type { NetworkAttachment, NetworkDriver, NetworkFacts, RootFile, SecretBinding } from "../../core/drivers.js";
import { containsAddress, setOf, setOfCidrs } from "../../core/ip-intervals.js";
import { closedCidrs } from "../../core/special-ranges.js";
import { DaemonError } from "../../daemon-error.js";
import { type AddressPlan, buildAddressPlan } from "../../net/address-plan.js";
import { createSandboxCa } from "../../net/cert-authority.js";
import { SANDBOX_CA_PATH } from "../../net/linux-network-driver.js";

/** A server: gets the server's end of each accepted connection. */
export type FakeServer = (socket: Duplex) => void;

interface FakeSandboxNet {
  netnsPath: string;
  number: number;
  ipv4: string;
  ipv6: string;
  rules: NetRule[] | null;
  closed: string[];
  /** Addresses a name admitted, with the ports (null = every port). */
  learned: Map<string, Set<number> | null>;
  listeners: Map<number, FakeServer>;
  ca: string | undefined;
}

/** What outlives a FakeNetwork (the "host"): sandbox networks by netnsPath, the fake internet. */
export class FakeNetHost {
  readonly nets = new Map<string, FakeSandboxNet>();
  readonly outside = new Map<string, FakeServer>();
  private made = 0;

  /** A fresh namespace path. */
  netnsPath(id: string): string {
    return `/run/netns/fake-${id}-${++this.made}`;
  }
}

const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** Two connected in-memory streams: what one writes the other reads; ending one ends the other's reading side. */
function streamPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        peer().push(chunk);
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
      destroy(err, callback) {
        const other = peer();
        if (!other.readableEnded) other.push(null);
        callback(err);
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}

export class FakeNetwork implements NetworkDriver {
  readonly plan: AddressPlan;
  private readonly sandboxes = new Map<string, FakeSandboxNet>();
  readonly host: FakeNetHost;
  private readonly names: Record<string, string[]>;
  private readonly netOpen: string[];
  private closedDown = false;
  /** Namespaces kept at start for adoption, until dropUnadopted. */
  private kept = new Set<string>();

  constructor(opts: { range4?: string; netOpen?: string[]; names?: Record<string, string[]>; host?: FakeNetHost } = {}) {
    this.plan = buildAddressPlan(opts.range4 ?? "10.73.0.0/16", "fake-network");
    this.netOpen = opts.netOpen ?? [];
    this.names = opts.names ?? {};
    this.host = opts.host ?? new FakeNetHost();
  }

  /** Puts `server` on `address` port `port` of the fake internet. */
  serveOutside(address: string, port: number, server: FakeServer): void {
    this.host.outside.set(`${address}|${port}`, server);
  }

  /** As the Linux driver's start: a previous run's networks go, except `keep` (netnsPaths to adopt). */
  async start(keep: readonly string[] = []): Promise<void> {
    this.kept = new Set(keep.filter((p) => this.host.nets.has(p)));
    for (const p of [...this.host.nets.keys()]) if (!this.kept.has(p)) this.host.nets.delete(p);
  }

  async adopt(id: string, facts: NetworkFacts): Promise<NetworkAttachment> {
    const net = this.host.nets.get(facts.netnsPath);
    const fail = (why: string) => new DaemonError("NETWORK_FAILED", `the network of sandbox ${id} cannot be adopted: ${why}`);
    if (this.sandboxes.has(id)) throw fail("it already has a network");
    if (!net || !this.kept.has(facts.netnsPath)) throw fail(`its namespace ${facts.netnsPath} was not kept at start`);
    if (net.ipv4 !== facts.ipv4 || net.ipv6 !== facts.ipv6) throw fail(`its addresses ${facts.ipv4} are not the ones routed to it`);
    this.kept.delete(facts.netnsPath);
    net.closed = facts.closed;
    if (JSON.stringify(net.rules) !== JSON.stringify(facts.allowNet)) net.learned.clear();
    net.rules = facts.allowNet;
    this.sandboxes.set(id, net);
    return this.attachmentOf(net);
  }

  async dropUnadopted(): Promise<void> {
    for (const p of this.kept) this.host.nets.delete(p);
    this.kept.clear();
  }

  async detach(): Promise<void> {
    this.sandboxes.clear();
    this.closedDown = true;
  }

  /** Puts `server` inside the sandbox's network on `port` (every address of it), as a process there would; returns its stop. */
  listen(id: string, port: number, server: FakeServer): () => void {
    const sbx = this.require(id);
    if (sbx.listeners.has(port)) throw new Error(`port ${port} is in use in sandbox ${id}`);
    sbx.listeners.set(port, server);
    return () => {
      if (sbx.listeners.get(port) === server) sbx.listeners.delete(port);
    };
  }

  /** Sandboxes with a network now. */
  get attachedIds(): string[] {
    return [...this.sandboxes.keys()];
  }

  closedRanges(tenantOpen: readonly string[]): string[] {
    return closedCidrs(this.netOpen, tenantOpen, [this.plan.range4, this.plan.range6]);
  }

  async attach(id: string, spec: { allowNet: NetRule[] | null; secrets: SecretBinding[]; closed: string[] }): Promise<NetworkAttachment> {
    if (this.closedDown) throw new DaemonError("NETWORK_FAILED", "the network driver is closed");
    if (this.sandboxes.has(id)) throw new DaemonError("NETWORK_FAILED", `sandbox ${id} already has a network`);
    const ca = spec.secrets.length > 0 ? (await createSandboxCa(id)).certPem : undefined;
    if (this.sandboxes.has(id)) throw new DaemonError("NETWORK_FAILED", `sandbox ${id} already has a network`);
    // The lowest number no network on the host holds.
    const taken = new Set([...this.host.nets.values()].map((n) => n.number));
    let number = 1;
    while (taken.has(number)) number++;
    const { ipv4, ipv6 } = this.plan.sandbox(number);
    const net: FakeSandboxNet = {
      netnsPath: this.host.netnsPath(id),
      number,
      ipv4,
      ipv6,
      rules: spec.allowNet,
      closed: spec.closed,
      learned: new Map(),
      listeners: new Map(),
      ca,
    };
    this.host.nets.set(net.netnsPath, net);
    this.sandboxes.set(id, net);
    return this.attachmentOf(net);
  }

  private attachmentOf(net: FakeSandboxNet): NetworkAttachment {
    const { ca, ipv4, ipv6 } = net;
    const files: RootFile[] = [{ path: "/etc/resolv.conf", content: `nameserver ${this.plan.gateway4}\noptions edns0\n` }];
    const env: Record<string, string> = {};
    if (ca) {
      files.push({ path: SANDBOX_CA_PATH, content: ca }, { path: SYSTEM_BUNDLE, content: ca, appendToImage: true });
      Object.assign(env, { SSL_CERT_FILE: SYSTEM_BUNDLE, NODE_EXTRA_CA_CERTS: SANDBOX_CA_PATH });
    }
    return { netnsPath: net.netnsPath, files, env, ipv4, ipv6 };
  }

  async setAllowNet(id: string, allowNet: NetRule[] | null): Promise<void> {
    const sbx = this.require(id);
    sbx.rules = allowNet;
    sbx.learned.clear();
  }

  async setClosed(id: string, closed: string[]): Promise<void> {
    this.require(id).closed = closed;
  }

  async connect(id: string, addresses: readonly string[], port: number): Promise<Duplex> {
    const sbx = this.require(id);
    let refused = false;
    for (const address of addresses) {
      const local = this.isLocal(sbx, address);
      if (!local && !this.allowed(sbx, address, port)) continue; // admin-prohibited
      const server = local ? sbx.listeners.get(port) : this.host.outside.get(`${address}|${port}`);
      if (!server) {
        refused = true;
        continue;
      }
      const [client, serverEnd] = streamPair();
      server(serverEnd);
      return client;
    }
    const where = `${addresses.join(" or ")} port ${port}`;
    throw new NetworkError(
      "FETCH_FAILED",
      refused && addresses.length === 1
        ? `Connection refused by ${where} in the sandbox's network: is a server listening there?`
        : `Cannot connect to ${where} from the sandbox's network`,
      { port, addresses: [...addresses] },
    );
  }

  async resolve(id: string, name: string): Promise<string[]> {
    const sbx = this.require(id);
    const lower = name.toLowerCase();
    let ports: Set<number> | null;
    if (sbx.rules === null) ports = null;
    else {
      const matching = sbx.rules.filter((r) => r.kind === "host" && hostRuleMatches(r, lower));
      if (matching.length === 0) return [];
      ports = matching.some((r) => r.port === null) ? null : new Set(matching.map((r) => r.port!));
    }
    const closed = setOfCidrs(sbx.closed);
    const addresses = (this.names[lower] ?? []).filter((a) => !containsAddress(closed, a));
    if (sbx.rules !== null)
      for (const a of addresses) {
        const had = sbx.learned.get(a);
        sbx.learned.set(a, had === null || ports === null ? null : new Set([...(had ?? []), ...ports]));
      }
    return addresses;
  }

  sandboxCa(id: string): string | undefined {
    return this.sandboxes.get(id)?.ca;
  }

  async release(id: string): Promise<void> {
    const sbx = this.sandboxes.get(id);
    if (!sbx) return;
    this.sandboxes.delete(id);
    this.host.nets.delete(sbx.netnsPath);
  }

  async close(): Promise<void> {
    for (const id of [...this.sandboxes.keys()]) await this.release(id);
    this.closedDown = true;
  }

  private isLocal(sbx: FakeSandboxNet, address: string): boolean {
    return address === sbx.ipv4 || address === sbx.ipv6 || address === "::1" || (isIpv4(address) && address.startsWith("127."));
  }

  /** What nftables decides for a new connection from the sandbox to `address`:`port`. */
  private allowed(sbx: FakeSandboxNet, address: string, port: number): boolean {
    if (containsAddress(setOfCidrs(sbx.closed), address)) return false;
    if (sbx.rules === null) return true;
    const ipRules = sbx.rules.filter((r): r is IpRule => r.kind === "ip");
    if (ipRules.some((r) => (r.port === null || r.port === port) && containsAddress(setOf([r]), address))) return true;
    const learned = sbx.learned.get(address);
    return learned === null || (learned?.has(port) ?? false);
  }

  private require(id: string): FakeSandboxNet {
    const sbx = this.sandboxes.get(id);
    if (!sbx) throw new DaemonError("NETWORK_FAILED", `sandbox ${id} has no network`);
    return sbx;
  }
}
