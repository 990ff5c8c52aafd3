/**
 * Where netd's resolver gets answers (docs/network.md, "DNS"):
 *   static  a fixed table (tests): nothing is ever forwarded
 *   host    raw queries go to the daemon, which forwards them to the host's resolvers
 *   none    every query fails (SERVFAIL)
 */
import dnsPacket from "dns-packet";

export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const TTL = 60;

export interface Upstream {
  /** Answers a raw DNS query with a raw response. */
  query(packet: Buffer): Promise<Buffer>;
  /** The A and AAAA addresses of `name` (empty when it has none). */
  lookup(name: string): Promise<string[]>;
}

/** A response to `query` with `rcode` and `answers` (copies id, question and the RD flag). */
export function respond(query: dnsPacket.DecodedPacket, rcode: number, answers: dnsPacket.Answer[] = []): Buffer {
  return dnsPacket.encode({
    type: "response",
    id: query.id,
    flags: (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers,
  });
}

/** A and AAAA addresses found in a response (any owner name: CNAME chains included). */
export function addressesIn(response: Buffer): string[] {
  const decoded = dnsPacket.decode(response);
  const out: string[] = [];
  for (const a of decoded.answers ?? []) {
    if ((a.type === "A" || a.type === "AAAA") && typeof a.data === "string") out.push(a.data);
  }
  return out;
}

/** `response` without the A/AAAA records whose address is in `drop` (re-encoded). */
export function withoutAddresses(response: Buffer, drop: ReadonlySet<string>): Buffer {
  const decoded = dnsPacket.decode(response);
  const keep = (a: dnsPacket.Answer) => !((a.type === "A" || a.type === "AAAA") && typeof a.data === "string" && drop.has(a.data));
  return dnsPacket.encode({ ...decoded, answers: (decoded.answers ?? []).filter(keep), additionals: (decoded.additionals ?? []).filter(keep) });
}

export class StaticUpstream implements Upstream {
  private readonly table: Map<string, string[]>;

  constructor(table: Record<string, string[]>) {
    this.table = new Map(Object.entries(table).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ""), v]));
  }

  async query(packet: Buffer): Promise<Buffer> {
    const q = dnsPacket.decode(packet);
    const question = q.questions?.[0];
    if (!question) return respond(q, RCODE.SERVFAIL);
    const name = question.name.toLowerCase().replace(/\.$/, "");
    const addresses = this.table.get(name);
    if (!addresses) return respond(q, RCODE.NXDOMAIN);
    const answers: dnsPacket.Answer[] = [];
    for (const address of addresses) {
      const v6 = address.includes(":");
      if (question.type === (v6 ? "AAAA" : "A")) answers.push({ type: v6 ? "AAAA" : "A", name: question.name, ttl: TTL, class: "IN", data: address });
    }
    return respond(q, RCODE.NOERROR, answers);
  }

  async lookup(name: string): Promise<string[]> {
    return this.table.get(name.toLowerCase().replace(/\.$/, "")) ?? [];
  }
}

export class NoUpstream implements Upstream {
  async query(packet: Buffer): Promise<Buffer> {
    return respond(dnsPacket.decode(packet), RCODE.SERVFAIL);
  }
  async lookup(): Promise<string[]> {
    return [];
  }
}

/** Forwards raw queries through `forward` (the daemon, which asks the host's resolvers). */
export class ForwardingUpstream implements Upstream {
  private id = 1;
  constructor(private readonly forward: (packet: Buffer) => Promise<Buffer>) {}

  query(packet: Buffer): Promise<Buffer> {
    return this.forward(packet);
  }

  async lookup(name: string): Promise<string[]> {
    const ask = async (type: "A" | "AAAA") => {
      this.id = (this.id + 1) & 0xffff;
      const packet = dnsPacket.encode({ type: "query", id: this.id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: "IN" }] });
      return addressesIn(await this.forward(packet)).filter((a) => a.includes(":") === (type === "AAAA"));
    };
    const [v4, v6] = await Promise.all([ask("A").catch(() => []), ask("AAAA").catch(() => [])]);
    return [...v4, ...v6];
  }
}
