import { DaemonError } from "../../daemon-error.js";
/**
 * What netd's resolver accepts from a sandbox before it decodes anything (docs/network.md,
 * "netd's limits"): one question, no answer or authority records, at most one additional (EDNS
 * OPT) record, and at most MAX_QUERY_BYTES. dns-packet follows compression pointers without a
 * hop limit, so a large hostile message with many names could cost quadratic time; a query this
 * small cannot. TCP messages are framed here in one linear pass.
 */

/** Largest query accepted (the DNS flag day's UDP size; real queries are well under 300 bytes). */
export const MAX_QUERY_BYTES = 1232;

/** Why `msg` is not a query netd answers, or null when it may be decoded. */
export function queryProblem(msg: Buffer): string | null {
  if (msg.length < 12) return "shorter than a DNS header";
  if (msg.length > MAX_QUERY_BYTES) return `longer than ${MAX_QUERY_BYTES} bytes`;
  if (msg[2]! & 0x80) return "a response, not a query";
  const [qd, an, ns, ar] = [msg.readUInt16BE(4), msg.readUInt16BE(6), msg.readUInt16BE(8), msg.readUInt16BE(10)];
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return "not exactly one question";
  return null;
}

/**
 * Splits a DNS-over-TCP byte stream into messages (2-byte length prefix, RFC 1035 §4.2.2).
 * A message is copied once into a buffer of its announced size; a length over MAX_QUERY_BYTES
 * is an error (the connection is closed).
 *
 * @example const framer = new DnsTcpFramer(); for (const msg of framer.push(chunk)) answer(msg);
 */
export class DnsTcpFramer {
  private readonly lengthBytes = Buffer.alloc(2);
  private lengthHave = 0;
  private message: Buffer | undefined;
  private have = 0;

  /** Bytes held for an incomplete message. */
  get pending(): number {
    return this.lengthHave + this.have;
  }

  /** Complete messages in `chunk` (and before it); throws on a message that is too long. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let p = 0;
    while (p < chunk.length) {
      if (!this.message) {
        const take = Math.min(2 - this.lengthHave, chunk.length - p);
        chunk.copy(this.lengthBytes, this.lengthHave, p, p + take);
        this.lengthHave += take;
        p += take;
        if (this.lengthHave < 2) break;
        const len = this.lengthBytes.readUInt16BE(0);
        if (len > MAX_QUERY_BYTES) throw new DaemonError("NETWORK_FAILED", `DNS message of ${len} bytes over TCP (at most ${MAX_QUERY_BYTES})`);
        this.message = Buffer.alloc(len);
        this.have = 0;
      }
      const take = Math.min(this.message.length - this.have, chunk.length - p);
      chunk.copy(this.message, this.have, p, p + take);
      this.have += take;
      p += take;
      if (this.have === this.message.length) {
        out.push(this.message);
        this.message = undefined;
        this.lengthHave = 0;
        this.have = 0;
      }
    }
    return out;
  }
}

/**
 * Why the decoded question name `name` does not stand for the name on the wire, or null. The
 * decoder turns a label holding a "." byte into two labels and bytes that are not UTF-8 into
 * U+FFFD, and the encoder drops a "." after a newline: the policy would check one name while the
 * upstream resolves another, and the answer (which re-encodes the name) would be malformed. So
 * every label must be printable ASCII without "." and match the wire byte for byte (found by
 * netd-parsers.fuzz.test.ts; real names are letters, digits, "-" and "_").
 */
export function questionNameProblem(msg: Buffer, name: string): string | null {
  const problem = "the question name is not printable ASCII labels";
  let p = 12;
  for (const label of name === "." ? [] : name.split(".")) {
    if (!/^[\x21-\x2d\x2f-\x7e]{1,63}$/.test(label) || msg[p] !== label.length || msg.toString("latin1", p + 1, p + 1 + label.length) !== label) return problem;
    p += 1 + label.length;
  }
  return msg[p] === 0 ? null : problem;
}
