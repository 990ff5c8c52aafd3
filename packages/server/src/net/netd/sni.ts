/**
 * Reads the server name (SNI) from the first bytes a TLS client sends: the ClientHello, which may
 * span several records and TCP segments.
 *
 * The reader is incremental and linear: every byte a sandbox sends is looked at once, copied at
 * most once into a buffer of bounded size, and nothing is re-scanned when more arrives. Limits
 * (a bad peer ends its own connection, never the proxy): the ClientHello is at most
 * MAX_HELLO_BYTES, it spans at most MAX_HELLO_RECORDS records, and zero-length handshake records
 * (which RFC 8446 §5.1 forbids) end the connection at once.
 */

export type SniResult = { status: "more" } | { status: "not-tls"; reason: string } | { status: "ok"; serverName: string | null; helloBytes: number };

/** Largest ClientHello accepted (handshake header + body); real ones are 0.5-3 KiB. */
export const MAX_HELLO_BYTES = 16 * 1024;
/** Most records a ClientHello may be split into. */
export const MAX_HELLO_RECORDS = 32;
/** TLSPlaintext.length limit (RFC 8446 §5.1). */
const MAX_RECORD = 16 * 1024;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;

/**
 * One connection's ClientHello, fed chunk by chunk.
 *
 * @example
 *   const reader = new ClientHelloReader();
 *   sock.on("data", (chunk) => { const r = reader.push(chunk); if (r.status !== "more") route(r, reader.raw()); });
 */
export class ClientHelloReader {
  private readonly chunks: Buffer[] = [];
  /** Bytes received so far (all of them: they are replayed to the upstream or the TLS server). */
  received = 0;
  private readonly recordHeader = Buffer.alloc(5);
  private headerHave = 0;
  /** Payload bytes left in the current record; -1 while reading a record header. */
  private recordLeft = -1;
  private records = 0;
  private readonly msgHeader = Buffer.alloc(4);
  private msgHeaderHave = 0;
  private hello: Buffer | undefined;
  private helloHave = 0;
  private result: SniResult = { status: "more" };
  /** Where the ClientHello ended in the chunk that completed it (bytes of its record may follow). */
  private helloEnd = 0;

  /** Adds bytes from the client; the answer stays the same once it is not "more". */
  push(chunk: Buffer): SniResult {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.result.status !== "more") return this.result;
    let p = 0;
    while (p < chunk.length && this.result.status === "more") {
      if (this.recordLeft < 0) {
        const take = Math.min(5 - this.headerHave, chunk.length - p);
        chunk.copy(this.recordHeader, this.headerHave, p, p + take);
        this.headerHave += take;
        p += take;
        if (this.headerHave === 5) this.startRecord();
        continue;
      }
      const take = Math.min(this.recordLeft, chunk.length - p);
      this.payload(chunk, p, p + take);
      this.recordLeft -= take;
      p += take;
      if (this.recordLeft === 0 && this.result.status === "more") {
        this.recordLeft = -1;
        this.headerHave = 0;
      }
    }
    const r = this.result as SniResult;
    if (r.status === "ok") this.result = { ...r, helloBytes: this.received - chunk.length + this.helloEnd };
    return this.result;
  }

  /** Every byte received so far, in order. */
  raw(): Buffer {
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private fail(reason: string): void {
    this.result = { status: "not-tls", reason };
  }

  private startRecord(): void {
    const h = this.recordHeader;
    if (h[0] !== HANDSHAKE || h[1] !== 3) return this.fail("not a TLS handshake record");
    const len = h.readUInt16BE(3);
    if (len === 0) return this.fail("zero-length handshake record");
    if (len > MAX_RECORD) return this.fail("record longer than 16 KiB");
    if (++this.records > MAX_HELLO_RECORDS) return this.fail(`ClientHello split into more than ${MAX_HELLO_RECORDS} records`);
    this.recordLeft = len;
  }

  /** Handshake bytes `chunk[from, to)`: the 4-byte message header, then the ClientHello body. */
  private payload(chunk: Buffer, from: number, to: number): void {
    let p = from;
    if (this.msgHeaderHave < 4) {
      const take = Math.min(4 - this.msgHeaderHave, to - p);
      chunk.copy(this.msgHeader, this.msgHeaderHave, p, p + take);
      this.msgHeaderHave += take;
      p += take;
      if (this.msgHeaderHave < 4) return;
      if (this.msgHeader[0] !== CLIENT_HELLO) return this.fail("the first handshake message is not a ClientHello");
      const len = (this.msgHeader[1]! << 16) | (this.msgHeader[2]! << 8) | this.msgHeader[3]!;
      if (len + 4 > MAX_HELLO_BYTES) return this.fail(`ClientHello larger than ${MAX_HELLO_BYTES} bytes`);
      this.hello = Buffer.alloc(len);
    }
    const hello = this.hello!;
    const take = Math.min(hello.length - this.helloHave, to - p);
    chunk.copy(hello, this.helloHave, p, p + take);
    this.helloHave += take;
    if (this.helloHave === hello.length) {
      this.helloEnd = p + take;
      this.result = { status: "ok", serverName: serverNameIn(hello), helloBytes: 0 };
    }
  }
}

/**
 * Parses a ClientHello at the start of `data` in one go.
 *
 * @example const r = parseClientHello(firstBytes); if (r.status === "ok") console.log(r.serverName);
 */
export function parseClientHello(data: Buffer): SniResult {
  return new ClientHelloReader().push(data);
}

/** The host name of the server_name extension, lowercased, or null (absent or not a host name). */
function serverNameIn(h: Buffer): string | null {
  let p = 2 + 32; // client_version, random
  if (p + 1 > h.length) return null;
  p += 1 + h[p]!; // session id
  if (p + 2 > h.length) return null;
  p += 2 + h.readUInt16BE(p); // cipher suites
  if (p + 1 > h.length) return null;
  p += 1 + h[p]!; // compression methods
  if (p + 2 > h.length) return null;
  const end = Math.min(h.length, p + 2 + h.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    const body = h.subarray(p + 4, Math.min(end, p + 4 + len));
    p += 4 + len;
    if (type !== 0 || body.length < 2) continue;
    let q = 2;
    while (q + 3 <= body.length) {
      const nameType = body[q]!;
      const nameLen = body.readUInt16BE(q + 1);
      if (nameType === 0) {
        if (q + 3 + nameLen > body.length || nameLen === 0 || nameLen > 253) return null;
        const name = body.toString("latin1", q + 3, q + 3 + nameLen);
        return /^[A-Za-z0-9.-]+$/.test(name) ? name.toLowerCase() : null;
      }
      q += 3 + nameLen;
    }
  }
  return null;
}

/** A fatal TLS alert record (e.g. 49 access_denied, 112 unrecognized_name). */
export function tlsAlert(description: number): Buffer {
  return Buffer.from([21, 3, 1, 0, 2, 2, description]);
}
