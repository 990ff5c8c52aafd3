/**
 * The one HTTP forwarder of Atoll: sandbox.fetch (core/sandbox-fetch.ts), exposed ports
 * (core/expose-proxy.ts) and netd's egress proxy (net/netd/http-forward.ts) send a request and
 * pass its response on through here, with the header rules of forward-headers.ts: hop-by-hop
 * headers never cross, the request head sent and the response head read are bounded, and a
 * response head Node could not write is refused before anything is written.
 *
 * Node's own HTTP client does the parsing and framing; nothing here parses bytes.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { type Duplex, pipeline, type Readable, type Transform } from "node:stream";
import {
  type CheckedHead,
  MAX_FORWARDED_HEAD_BYTES,
  MAX_HEADER_BYTES,
  type ResponseRules,
  checkResponseHead,
  requestHeadBytes,
  serializeRequestHead,
} from "./forward-headers.js";

const noop = () => undefined;

/** Where a request goes: one connection of the caller's (it stays the caller's), or a server Node dials. */
export type Upstream = { connection: Duplex } | { tls: boolean; options: https.RequestOptions };

export interface ForwardRequest {
  method: string;
  /** Request target: path and query. */
  path: string;
  /** Flat [name, value, …], end-to-end only (forward-headers.ts `endToEnd`), Host included. */
  headers: readonly string[];
  /** Relayed as the request body; without one the request ends at once. */
  body?: Readable | undefined;
  upstream: Upstream;
  /** Aborting destroys the request (the caller went away). */
  signal?: AbortSignal | undefined;
}

/** The response, once its head arrived and was checked; or why there is none. */
export type ForwardResult =
  | { head: CheckedHead; response: IncomingMessage }
  | {
      /** `request`: the server could not be reached or failed; `head`: its response head cannot be passed on. */
      failed: "request" | "head";
      message: string;
    };

/**
 * Sends `r` and resolves once the response head is in and checked against `rules` (never
 * rejects). The response body is then the caller's to relay (relayResponse) or destroy.
 *
 * @example
 *   const f = await forward({ method: "GET", path: "/", headers: ["host", "example.com"], upstream: { connection } });
 *   if ("failed" in f) return fail(502, f.message);
 *   relayResponse(f, res, () => connection.destroy());
 */
export function forward(r: ForwardRequest, rules: ResponseRules = {}): Promise<ForwardResult> {
  return new Promise((resolve) => {
    if (requestHeadBytes(r.method, r.path, r.headers) > MAX_FORWARDED_HEAD_BYTES) {
      return resolve({ failed: "request", message: `the request head is larger than ${MAX_FORWARDED_HEAD_BYTES} bytes` });
    }
    // Flat headers are sent as given (Node adds no Host); the response head is bounded.
    const common = { method: r.method, path: r.path, headers: r.headers as unknown as OutgoingHttpHeaders, setHost: false, maxHeaderSize: MAX_HEADER_BYTES };
    let req: http.ClientRequest;
    try {
      const up = r.upstream;
      // One connection: no agent, so the request uses exactly this connection.
      if ("connection" in up) req = http.request({ ...common, createConnection: () => up.connection as Socket });
      else req = (up.tls ? https : http).request({ ...up.options, ...common });
    } catch (err) {
      // A request Node refuses to build (a bad method or header).
      return resolve({ failed: "request", message: (err as Error).message });
    }
    req.once("response", (response) => {
      const head = checkResponseHead(response, rules);
      if (typeof head === "string") {
        response.destroy();
        resolve({ failed: "head", message: head });
      } else resolve({ head, response });
    });
    // Errors after the head (a body cut short) end the relay; the first one before it is the answer.
    req.on("error", (err) => resolve({ failed: "request", message: err.message }));
    if (r.signal) {
      if (r.signal.aborted) req.destroy();
      else r.signal.addEventListener("abort", () => req.destroy(), { once: true });
    }
    if (r.body) pipeline(r.body, req, noop);
    else req.end();
  });
}

/**
 * Writes a forwarded response to `res`: its checked head, then its body (through `transform`,
 * when given); `done` runs when the relay ends either way. Returns why not, with nothing
 * written and the response destroyed, when Node still refuses the head.
 */
export function relayResponse(
  f: { head: CheckedHead; response: IncomingMessage },
  res: ServerResponse,
  done: (err?: Error | null) => void = noop,
  transform?: Transform,
): string | undefined {
  try {
    res.writeHead(f.head.status, f.head.message, f.head.headers);
  } catch (err) {
    f.response.destroy();
    return (err as Error).message;
  }
  if (transform) pipeline(f.response, transform, res, done);
  else pipeline(f.response, res, done);
  return undefined;
}

/**
 * Relays an upgrade (WebSocket …): the request head (`headers` end-to-end but for Connection
 * and Upgrade) is replayed on `conn`, then bytes flow both ways. Either side failing, or the
 * client closing, ends both.
 */
export function relayUpgrade(conn: Duplex, client: Duplex, request: { method: string; path: string; headers: readonly string[]; already: Buffer }): void {
  conn.on("error", () => client.destroy());
  client.on("error", noop);
  client.on("close", () => conn.destroy());
  let head: string;
  try {
    head = serializeRequestHead(request.method, request.path, request.headers);
  } catch {
    client.destroy();
    conn.destroy();
    return;
  }
  conn.write(head);
  if (request.already.length > 0) conn.write(request.already);
  conn.pipe(client).pipe(conn);
}
