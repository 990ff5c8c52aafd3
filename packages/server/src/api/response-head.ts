/**
 * A response head received from a sandbox's server (exposed ports, sandbox.fetch), checked
 * before the daemon writes it to its own client. Node's parser accepts heads its writer refuses
 * (`HTTP/1.1 000 X`, status texts with control characters, header values it will not send);
 * `res.writeHead` would throw on them. Everything here is validated first, so a hostile server
 * gets a 502 for that one request and nothing else.
 */
import { STATUS_CODES, type IncomingMessage, validateHeaderName, validateHeaderValue } from "node:http";

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization"]);

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
 * The head of `res` ready to forward, or a reason why it cannot be. Hop-by-hop headers are
 * left out; `extra` headers are added at the end.
 *
 * @example
 *   const head = checkResponseHead(up);
 *   if (typeof head === "string") return fail(502, head);
 *   res.writeHead(head.status, head.message, head.headers);
 */
export function checkResponseHead(res: Pick<IncomingMessage, "statusCode" | "statusMessage" | "rawHeaders">, extra: readonly string[] = []): CheckedHead | string {
  const status = res.statusCode ?? 0;
  if (!Number.isInteger(status) || status < 200 || status > 599) return `its status ${String(status).padStart(3, "0")} is not a final HTTP status (200-599)`;
  const message = res.statusMessage ?? STATUS_CODES[status] ?? "";
  if (!REASON.test(message)) return `its status text ${JSON.stringify(message.slice(0, 64))} holds characters HTTP does not allow`;
  const hop = connectionTokens(res.rawHeaders);
  const headers: string[] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || hop.has(lower)) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      return `its header ${JSON.stringify(name.slice(0, 64))} is not valid HTTP`;
    }
    headers.push(name, value);
  }
  return { status, message, headers: [...headers, ...extra] };
}
