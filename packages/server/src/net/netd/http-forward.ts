/**
 * Forwards one HTTP request from a sandbox to the real host, to an address the proxy chose
 * itself, with secret substitution when the host is a secret's host (plain HTTP on port 80, or
 * HTTPS behind the intercepting TLS proxy).
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { pipeline } from "node:stream";
import type { SecretRule } from "./policy-match.js";
import { ReplaceStream, substitute, substituteHeaders } from "./secret-substitution.js";

export interface ForwardTarget {
  /** The checked host name (Host header / SNI); also what the upstream certificate must name. */
  name: string;
  /** Addresses the proxy resolved for `name` itself, already filtered. */
  addresses: string[];
  port: number;
  tls: boolean;
  secrets: SecretRule[];
  /** Trusted roots for the upstream certificate (TLS only). */
  ca?: string[] | undefined;
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 512 });

/**
 * A lookup that answers with the proxy's own addresses instead of asking the system.
 *
 * It answers asynchronously, like dns.lookup. Node's net.connect relies on that: when a lookup
 * answers synchronously and connect() then fails at once (ENETUNREACH without a route, EPERM
 * from the firewall), the socket emits 'error' before http.request attached its listener, and
 * the error is uncaught — one request through the proxy used to end netd that way.
 */
export function fixedLookup(addresses: readonly string[]): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const all = addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    setImmediate(() => {
      if (all.length === 0) callback(Object.assign(new Error("no address to connect to"), { code: "ENOTFOUND" }));
      else if (options?.all) callback(null, all);
      else callback(null, all[0]!.address, all[0]!.family);
    });
  }) as unknown as LookupFunction;
}

/** Writes a short plain-text error response (used for refusals and upstream failures). */
export function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `atoll: ${message.replace(/[^\x20-\x7e]/g, "?")}\n`;
  try {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), "x-atoll-proxy": "refused" });
    res.end(body);
  } catch {
    res.destroy();
  }
}

export function forwardRequest(req: IncomingMessage, res: ServerResponse, t: ForwardTarget): void {
  const secrets = t.secrets;
  const headers = substituteHeaders(req.headers, secrets, "to-host");
  // Bodies are scanned on the way back: ask for them uncompressed.
  if (secrets.length > 0) headers["accept-encoding"] = "identity";
  const options: https.RequestOptions = {
    host: t.name,
    port: t.port,
    method: req.method,
    path: substitute(req.url ?? "/", secrets, "to-host"),
    headers,
    lookup: fixedLookup(t.addresses),
    agent: t.tls ? httpsAgent : httpAgent,
  };
  if (t.tls) Object.assign(options, { servername: t.name, ca: t.ca, rejectUnauthorized: true });
  const upstream = (t.tls ? https : http).request(options, (up) => {
    const outHeaders = substituteHeaders(up.headers, secrets, "to-sandbox");
    if (secrets.length > 0) delete outHeaders["content-length"];
    try {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, outHeaders);
    } catch (err) {
      // A status or header Node will not send (e.g. status 000): this request fails, nothing else.
      up.destroy();
      return refuse(res, 502, `${t.name} sent a response the proxy cannot pass on: ${(err as Error).message}`);
    }
    const body = secrets.length > 0 ? pipeline(up, new ReplaceStream(secrets, "to-sandbox"), () => undefined) : up;
    pipeline(body, res, () => undefined);
  });
  upstream.on("error", (err) => refuse(res, 502, `cannot reach ${t.name}:${t.port}: ${err.message}`));
  req.on("aborted", () => upstream.destroy());
  pipeline(req, upstream, () => undefined);
}
