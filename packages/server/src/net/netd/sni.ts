/**
 * Reads the server name (SNI) from the first bytes a TLS client sends: the ClientHello, which may
 * span several records and TCP segments.
 */

export type SniResult = { status: "more" } | { status: "not-tls" } | { status: "ok"; serverName: string | null; helloBytes: number };

const MAX_HELLO = 64 * 1024;

/**
 * Parses the ClientHello at the start of `data`.
 *
 * @example const r = parseClientHello(firstBytes); if (r.status === "ok") console.log(r.serverName);
 */
export function parseClientHello(data: Buffer): SniResult {
  // Reassemble the handshake message from consecutive handshake records.
  let offset = 0;
  const fragments: Buffer[] = [];
  let have = 0;
  let needed = -1;
  while (needed < 0 || have < needed) {
    if (data.length < offset + 5) return data.length > MAX_HELLO ? { status: "not-tls" } : { status: "more" };
    if (data[offset] !== 22 || data[offset + 1] !== 3) return { status: "not-tls" };
    const len = data.readUInt16BE(offset + 3);
    if (data.length < offset + 5 + len) return { status: "more" };
    fragments.push(data.subarray(offset + 5, offset + 5 + len));
    have += len;
    offset += 5 + len;
    if (needed < 0) {
      const first = Buffer.concat(fragments);
      if (first.length < 4) continue;
      if (first[0] !== 1) return { status: "not-tls" };
      needed = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!);
      if (needed > MAX_HELLO) return { status: "not-tls" };
    }
  }
  const hello = Buffer.concat(fragments).subarray(4, needed);
  return { status: "ok", serverName: serverNameIn(hello), helloBytes: offset };
}

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
    const body = h.subarray(p + 4, p + 4 + len);
    p += 4 + len;
    if (type !== 0 || body.length < 2) continue;
    let q = 2;
    while (q + 3 <= body.length) {
      const nameType = body[q]!;
      const nameLen = body.readUInt16BE(q + 1);
      const name = body.subarray(q + 3, q + 3 + nameLen).toString("ascii");
      if (nameType === 0) return /^[A-Za-z0-9.-]+$/.test(name) ? name.toLowerCase() : null;
      q += 3 + nameLen;
    }
  }
  return null;
}

/** A fatal TLS alert record (e.g. 49 access_denied, 112 unrecognized_name). */
export function tlsAlert(description: number): Buffer {
  return Buffer.from([21, 3, 1, 0, 2, 2, description]);
}
