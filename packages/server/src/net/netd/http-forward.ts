/**
 * Forwards one HTTP request from a sandbox to the real host, to an address the proxy chose
 * itself, with secret substitution when the host is a secret's host (plain HTTP on port 80, or
 * HTTPS behind the intercepting TLS proxy), through the shared forwarder (http/http-forwarder.ts).
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { type ResponseRules, endToEnd } from "../../http/forward-headers.js";
import { forward, relayResponse } from "../../http/http-forwarder.js";
import type { SecretRule } from "./policy-match.js";
import { ReplaceStream, substitute } from "./secret-substitution.js";

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

/**
 * The request headers sent to a host: end-to-end ones, placeholders replaced by the values of
 * the host's secrets; with secrets, bodies are asked for uncompressed (they are scanned on the
 * way back).
 *
 * @example upstreamHeaders(req.rawHeaders, secrets) // ["Host", "api.example.com", "authorization", "Bearer real-value", …]
 */
export function upstreamHeaders(rawHeaders: readonly string[], secrets: readonly SecretRule[]): string[] {
  const substituted = secrets.length > 0;
  const headers = endToEnd(rawHeaders, "body", (name, value) =>
    substituted && name === "accept-encoding" ? undefined : substitute(value, secrets, "to-host"),
  );
  if (substituted) headers.push("accept-encoding", "identity");
  return headers;
}

/** How a host's response head reaches the sandbox: values back to placeholders (a changed body has no length). */
export function sandboxResponseRules(secrets: readonly SecretRule[]): ResponseRules {
  const substituted = secrets.length > 0;
  return { map: (name, value) => (substituted && name === "content-length" ? undefined : substitute(value, secrets, "to-sandbox")) };
}

export function forwardRequest(req: IncomingMessage, res: ServerResponse, t: ForwardTarget): void {
  const secrets = t.secrets;
  const headers = upstreamHeaders(req.rawHeaders, secrets);
  const options: https.RequestOptions = { host: t.name, port: t.port, lookup: fixedLookup(t.addresses), agent: t.tls ? httpsAgent : httpAgent };
  if (t.tls) Object.assign(options, { servername: t.name, ca: t.ca, rejectUnauthorized: true });
  const aborted = new AbortController();
  req.on("aborted", () => aborted.abort());
  void forward(
    {
      method: req.method ?? "GET",
      path: substitute(req.url ?? "/", secrets, "to-host"),
      headers,
      body: req,
      upstream: { tls: t.tls, options },
      signal: aborted.signal,
    },
    sandboxResponseRules(secrets),
  ).then((f) => {
    if ("failed" in f) {
      return refuse(
        res,
        502,
        f.failed === "head" ? `${t.name} sent a response the proxy cannot pass on: ${f.message}` : `cannot reach ${t.name}:${t.port}: ${f.message}`,
      );
    }
    // A status or header Node will not send: this request fails, nothing else.
    const refused = relayResponse(f, res, undefined, secrets.length > 0 ? new ReplaceStream(secrets, "to-sandbox") : undefined);
    if (refused !== undefined) refuse(res, 502, `${t.name} sent a response the proxy cannot pass on: ${refused}`);
  });
}
