/**
 * The resolver every sandbox uses (its resolv.conf points at the router's gateway address).
 * It answers only names the sandbox's policy allows (NXDOMAIN otherwise, without asking
 * anyone), and before an answer goes out the addresses in it are admitted for the ports the
 * matching rules allow (docs/network.md, "DNS"). UDP and TCP on port 53.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";
import { type NameDecision, type SandboxPolicy, nameDecision } from "./policy-match.js";
import { RCODE, type Upstream, addressesIn, respond } from "./upstream-dns.js";

export interface DnsServerDeps {
  upstream: Upstream;
  /** The policy of the sandbox at this source address, if any. */
  policyOf(ip: string): SandboxPolicy | undefined;
  /** Admits addresses for a sandbox; the answer waits for it. */
  admit(ip: string, decision: NameDecision, addresses: string[]): Promise<void>;
  log(message: string, data: Record<string, unknown>): void;
}

/** Answers one raw query from the sandbox at `ip`. */
export async function answer(deps: DnsServerDeps, ip: string, packet: Buffer): Promise<Buffer | undefined> {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(packet);
  } catch {
    return undefined; // not DNS: drop
  }
  if (query.type !== "query") return undefined;
  const policy = deps.policyOf(ip);
  const question = query.questions?.[0];
  if (!policy || !question || (query.questions?.length ?? 0) !== 1) return respond(query, RCODE.REFUSED);
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
  const addresses = addressesIn(response);
  if (addresses.length > 0 && (decision.ports.length > 0 || decision.intercept)) await deps.admit(ip, decision, addresses);
  return response;
}

/** Normalises "::ffff:10.0.0.2" to "10.0.0.2". */
export function plainAddress(a: string | undefined): string {
  return (a ?? "").replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
}

/** Listens on UDP and TCP `address`:53; returns a function that closes both. */
export async function startDnsServer(deps: DnsServerDeps, address: string, port = 53): Promise<() => Promise<void>> {
  const udp = dgram.createSocket({ type: address.includes(":") ? "udp6" : "udp4" });
  udp.on("message", (msg, rinfo) => {
    void answer(deps, plainAddress(rinfo.address), msg).then(
      (out) => out && udp.send(out, rinfo.port, rinfo.address),
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
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("error", () => undefined);
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void answer(deps, plainAddress(sock.remoteAddress), Buffer.from(msg)).then((out) => {
          if (!out || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, address, () => resolve());
  });
  return async () => {
    udp.close();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  };
}
