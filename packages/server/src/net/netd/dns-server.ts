/**
 * The resolver every sandbox uses (its resolv.conf points at the router's gateway address).
 * It answers only names the sandbox's policy allows (NXDOMAIN otherwise, without asking
 * anyone), and before an answer goes out the addresses in it are admitted for the ports the
 * matching rules allow (docs/network.md, "DNS"). UDP and TCP on port 53.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";
import type { SandboxBudgets } from "./budgets.js";
import { DnsTcpFramer, queryProblem, questionNameProblem } from "./dns-guard.js";
import { type NameDecision, type SandboxPolicy, nameDecision } from "./policy-match.js";
import { RCODE, type Upstream, addressesIn, respond, withoutAddresses } from "./upstream-dns.js";

export interface DnsServerDeps {
  upstream: Upstream;
  /** The policy of the sandbox at this source address, if any. */
  policyOf(ip: string): SandboxPolicy | undefined;
  /** Admits addresses for a sandbox; the answer waits for it. */
  admit(ip: string, decision: NameDecision, addresses: string[]): Promise<void>;
  /** true when the sandbox may not reach `address` at all (its closed ranges). */
  closedFor(policy: SandboxPolicy, address: string): boolean;
  budgets: SandboxBudgets;
  log(message: string, data: Record<string, unknown>): void;
}

/** Answers one raw query from the sandbox at `ip` (undefined: no answer is sent). */
export async function answer(deps: DnsServerDeps, ip: string, packet: Buffer): Promise<Buffer | undefined> {
  const policy = deps.policyOf(ip);
  if (!policy || queryProblem(packet) !== null) return undefined; // not a sandbox, or not a plain query: drop
  const release = deps.budgets.takeQuery(policy.id);
  if (!release) return undefined; // over its rate or queries in flight: dropped, the client retries later
  try {
    return await answerQuery(deps, ip, policy, packet);
  } finally {
    release();
  }
}

async function answerQuery(deps: DnsServerDeps, ip: string, policy: SandboxPolicy, packet: Buffer): Promise<Buffer | undefined> {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(packet);
  } catch {
    return undefined; // not DNS: drop
  }
  const question = query.questions?.[0];
  if (!question || questionNameProblem(packet, question.name) !== null) return undefined; // drop
  const decision = nameDecision(policy, question.name);
  if (!decision.allowed) {
    deps.log("name refused by allowNet", { sandboxId: policy.id, name: question.name });
    return respond(query, RCODE.NXDOMAIN);
  }
  let response: Buffer;
  try {
    response = await deps.upstream.query(packet);
  } catch (err) {
    deps.log("upstream resolver failed", { name: question.name, error: (err as Error).message });
    return respond(query, RCODE.SERVFAIL);
  }
  let addresses: string[];
  try {
    addresses = addressesIn(response);
  } catch {
    return respond(query, RCODE.SERVFAIL);
  }
  // DNS rebinding: an answer pointing into the sandbox's closed ranges (metadata, private, …)
  // is stripped of those addresses; they are never admitted, and nftables closes them anyway.
  const closed = addresses.filter((a) => deps.closedFor(policy, a));
  if (closed.length > 0) {
    deps.log("closed addresses removed from a DNS answer", { sandboxId: policy.id, name: question.name, addresses: closed });
    try {
      response = withoutAddresses(response, new Set(closed));
    } catch {
      return respond(query, RCODE.SERVFAIL);
    }
    addresses = addresses.filter((a) => !closed.includes(a));
  }
  if (addresses.length > 0 && (decision.ports.length > 0 || decision.intercept)) {
    try {
      await deps.admit(ip, decision, addresses);
    } catch (err) {
      deps.log("admitting addresses failed", { sandboxId: policy.id, name: question.name, error: (err as Error).message });
      return respond(query, RCODE.SERVFAIL);
    }
  }
  return response;
}

/** Normalises "::ffff:10.0.0.2" to "10.0.0.2". */
export function plainAddress(a: string | undefined): string {
  return (a ?? "").replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
}

/** Answer bytes a DNS-over-TCP client may leave unread before its connection is closed. */
const MAX_TCP_UNREAD = 256 * 1024;

/** One DNS-over-TCP connection: framed linearly, bounded, counted against the sandbox's budgets. */
function serveTcp(deps: DnsServerDeps, sock: net.Socket): void {
  sock.on("error", () => undefined);
  const ip = plainAddress(sock.remoteAddress);
  const policy = deps.policyOf(ip);
  const release = policy && deps.budgets.take(policy.id, "dnsConnections");
  if (!policy || !release) {
    sock.destroy();
    return;
  }
  sock.setTimeout(10_000, () => sock.destroy());
  const framer = new DnsTcpFramer();
  let held = 0;
  const hold = (n: number) => {
    deps.budgets.releaseBytes(policy.id, held);
    held = 0;
    if (n > 0 && !deps.budgets.reserveBytes(policy.id, n)) return false;
    held = n;
    return true;
  };
  sock.once("close", () => {
    hold(0);
    release();
  });
  sock.on("data", (chunk: Buffer) => {
    let messages: Buffer[];
    try {
      messages = framer.push(chunk);
    } catch {
      sock.destroy();
      return;
    }
    if (!hold(framer.pending)) {
      sock.destroy();
      return;
    }
    for (const msg of messages) {
      void answer(deps, ip, msg).then(
        (out) => {
          if (!out || sock.destroyed) return;
          // A client that never reads its answers is not buffered for without bound.
          if (sock.writableLength > MAX_TCP_UNREAD) return void sock.destroy();
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        },
        (err: unknown) => deps.log("dns answer failed", { error: (err as Error).message }),
      );
    }
  });
}

/** Listens on UDP and TCP `address`:53; returns a function that closes both. */
export async function startDnsServer(deps: DnsServerDeps, address: string, port = 53): Promise<() => Promise<void>> {
  const udp = dgram.createSocket({ type: address.includes(":") ? "udp6" : "udp4" });
  udp.on("error", (err) => deps.log("dns socket error", { error: err.message }));
  udp.on("message", (msg, rinfo) => {
    void answer(deps, plainAddress(rinfo.address), msg).then(
      (out) => out && udp.send(out, rinfo.port, rinfo.address, () => undefined),
      (err: unknown) => deps.log("dns answer failed", { error: (err as Error).message }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, address, () => {
      udp.off("error", reject);
      resolve();
    });
  });
  const tcp = net.createServer((sock) => serveTcp(deps, sock));
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, address, () => resolve());
  });
  return async () => {
    udp.close();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  };
}
