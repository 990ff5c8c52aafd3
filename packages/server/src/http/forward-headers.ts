/**
 * The one set of header rules of every HTTP forwarder of Atoll (http-forwarder.ts: sandbox.fetch,
 * exposed ports, netd's egress proxy). Hop-by-hop headers (RFC 9110 §7.6.1, and every header a
 * `Connection` header names) describe one connection and are never passed on; heads are bounded.
 *
 * A response head received from a server (a sandbox's, or the internet's) is checked before it
 * is written to the forwarder's own client. Node's parser accepts heads its writer refuses
 * (`HTTP/1.1 000 X`, status texts with control characters, header values it will not send);
 * `res.writeHead` would throw on them. Everything here is validated first, so a hostile server
 * gets a 502 for that one request and nothing else.
 */
import { STATUS_CODES, type IncomingMessage, validateHeaderName, validateHeaderValue } from "node:http";

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** Largest response head a forwarder reads, and request head netd's proxy accepts (Node answers 431 beyond). */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Largest request head a forwarder sends. Incoming heads are within MAX_HEADER_BYTES; secret
 * substitution may lengthen them, within this bound.
 */
export const MAX_FORWARDED_HEAD_BYTES = 64 * 1024;

/** A head that can be written as is: `res.writeHead(status, message, headers)`. */
export interface CheckedHead {
  status: number;
  message: string;
  /** Flat [name, value, name, value, …] as Node's writeHead takes it; duplicates kept. */
  headers: string[];
}

/** What Node's writeHead accepts in a reason phrase (and header values): no control characters. */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Names listed in `Connection:` are hop-by-hop too. */
export function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== "connection") continue;
    for (const t of rawHeaders[i + 1]!.split(",")) if (t.trim()) out.add(t.trim().toLowerCase());
  }
  return out;
}

/**
 * Which request headers a forwarder keeps of a hop-by-hop kind:
 * - `body`: only `Transfer-Encoding` (a relayed body keeps its framing: Node re-chunks it);
 * - `upgrade`: also `Connection` and `Upgrade` (a WebSocket upgrade is relayed as is).
 */
export type HopKeep = "body" | "upgrade";

/**
 * `rawHeaders` without hop-by-hop headers, as a flat [name, value, …] list; `map` may change a
 * value or drop the header (undefined). Names keep their case, duplicates their order, except
 * Host: only the first is kept, the one Node's `req.headers.host` (and every check made on it) saw.
 *
 * @example endToEnd(req.rawHeaders, "body") // ["Host", "h", "Transfer-Encoding", "chunked", …]
 */
export function endToEnd(rawHeaders: readonly string[], keep: HopKeep, map?: (lowerName: string, value: string) => string | undefined): string[] {
  const hop = connectionTokens(rawHeaders);
  const out: string[] = [];
  let host = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === "host") {
      if (host) continue;
      host = true;
    }
    const kept = lower === "transfer-encoding" || (keep === "upgrade" && (lower === "connection" || lower === "upgrade"));
    if (!kept && (HOP_BY_HOP.has(lower) || hop.has(lower))) continue;
    const value = map ? map(lower, rawHeaders[i + 1]!) : rawHeaders[i + 1]!;
    if (value !== undefined) out.push(name, value);
  }
  return out;
}

/** Bytes of a request head: request line, headers, blank line. */
export function requestHeadBytes(method: string, path: string, headers: readonly string[]): number {
  let n = method.length + path.length + 13;
  for (const h of headers) n += Buffer.byteLength(h) + 2;
  return n;
}

/**
 * A request head as raw bytes, for an upgrade relayed over a plain connection. Throws when it
 * is larger than MAX_FORWARDED_HEAD_BYTES.
 */
export function serializeRequestHead(method: string, path: string, headers: readonly string[]): string {
  if (requestHeadBytes(method, path, headers) > MAX_FORWARDED_HEAD_BYTES)
    throw new RangeError(`the request head is larger than ${MAX_FORWARDED_HEAD_BYTES} bytes`);
  const lines = [`${method} ${path} HTTP/1.1`];
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** How a response head is passed on. */
export interface ResponseRules {
  /** Added at the end (the gate cookie of a loopback exposure, `x-atoll-fetch: 1`). */
  extra?: readonly string[];
  /** Changes a value, or drops the header (undefined): netd's secret substitution. */
  map?: (lowerName: string, value: string) => string | undefined;
}

/**
 * The head of `res` ready to forward, or a reason why it cannot be. Hop-by-hop headers are
 * left out; `rules.extra` headers are added at the end.
 *
 * @example
 *   const head = checkResponseHead(up);
 *   if (typeof head === "string") return fail(502, head);
 *   res.writeHead(head.status, head.message, head.headers);
 */
export function checkResponseHead(res: Pick<IncomingMessage, "statusCode" | "statusMessage" | "rawHeaders">, rules: ResponseRules = {}): CheckedHead | string {
  const status = res.statusCode ?? 0;
  if (!Number.isInteger(status) || status < 200 || status > 599) return `its status ${String(status).padStart(3, "0")} is not a final HTTP status (200-599)`;
  const message = res.statusMessage ?? STATUS_CODES[status] ?? "";
  if (!REASON.test(message)) return `its status text ${JSON.stringify(message.slice(0, 64))} holds characters HTTP does not allow`;
  const hop = connectionTokens(res.rawHeaders);
  const headers: string[] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || hop.has(lower)) continue;
    const value = rules.map ? rules.map(lower, raw[i + 1]!) : raw[i + 1]!;
    if (value === undefined) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      return `its header ${JSON.stringify(name.slice(0, 64))} is not valid HTTP`;
    }
    headers.push(name, value);
  }
  return { status, message, headers: [...headers, ...(rules.extra ?? [])] };
}
