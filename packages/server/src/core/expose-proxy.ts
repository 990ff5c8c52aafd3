/**
 * Forwards one request (or WebSocket upgrade) to an exposed sandbox port (docs/network.md,
 * "exposeHttp"), for the network service. The listeners and the routing live in
 * api/expose-gateway.ts; what passes is decided here (expose-headers.ts) and the bytes move
 * through the shared forwarder (http/http-forwarder.ts). What the sandbox's server answers is
 * hostile: its head is checked before it is written, and every failure ends this one request
 * with a 502.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { forward, relayResponse, relayUpgrade } from "../http/http-forwarder.js";
import { forwardedHeaders } from "./expose-headers.js";

/** What the proxy needs from the network service. */
export interface ExposeTarget {
  /** A connection to the exposed port from inside its sandbox, or why there is none (404 when `missing`). */
  connect(token: string): Promise<Duplex | { missing: boolean; message: string }>;
  /** Whether a header value is an Atoll API token (never forwarded). */
  isAtollToken(value: string): boolean;
}

/** A request matched to an exposure: the token, the path to forward, extra response headers. */
export interface Routed {
  token: string;
  path: string;
  /** Added to the sandbox's response head (the gate cookie of a loopback exposure). */
  extraHeaders: string[];
}

const noop = () => undefined;

/** The answer (404) for a URL that names no running exposure. */
export const NOT_EXPOSED = "Nothing is exposed at this URL (the sandbox ended, or the URL is wrong).";

/** Answers with a short text error, or cuts the connection when the head is already out. */
export function plainError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", connection: "close" });
  res.end(`${message}\n`);
}

const CANNOT_FORWARD = "The sandbox's server sent a response Atoll cannot forward";

export function proxyRequest(target: ExposeTarget, req: IncomingMessage, res: ServerResponse, m: Routed): void {
  void target
    .connect(m.token)
    .then(async (conn) => {
      if (!("pipe" in conn)) return plainError(res, conn.missing ? 404 : 502, conn.message);
      conn.on("error", noop); // the request below reports it
      if (res.destroyed) return void conn.destroy();
      const closed = new AbortController();
      res.on("close", () => {
        conn.destroy();
        closed.abort();
      });
      const f = await forward(
        {
          method: req.method ?? "GET",
          path: m.path,
          headers: forwardedHeaders(req.rawHeaders, (v) => target.isAtollToken(v), false),
          body: req,
          upstream: { connection: conn },
          signal: closed.signal,
        },
        { extra: m.extraHeaders },
      );
      if ("failed" in f) return plainError(res, 502, f.failed === "head" ? `${CANNOT_FORWARD}: ${f.message}.` : `The sandbox's server failed: ${f.message}`);
      const refused = relayResponse(f, res);
      if (refused !== undefined) plainError(res, 502, `${CANNOT_FORWARD}: ${refused}.`);
    })
    // Whatever went wrong (the connection, a request Node refuses to build) ends this request.
    .catch((err: unknown) => plainError(res, 502, `The exposed port cannot be reached: ${(err as Error).message}`));
}

/** Upgrades (WebSocket): the filtered request head is replayed to the sandbox, then bytes are relayed. */
export function proxyUpgrade(target: ExposeTarget, req: IncomingMessage, socket: Duplex, head: Buffer, m: Routed): void {
  socket.on("error", noop);
  void target
    .connect(m.token)
    .then((conn) => {
      if (!("pipe" in conn)) {
        const status = conn.missing ? "404 Not Found" : "502 Bad Gateway";
        socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n${conn.message}\n`);
        return;
      }
      if (socket.destroyed) return void conn.destroy();
      conn.on("close", () => socket.destroy());
      const headers = forwardedHeaders(req.rawHeaders, (v) => target.isAtollToken(v), true);
      relayUpgrade(conn, socket, { method: req.method ?? "GET", path: m.path, headers, already: head });
    })
    .catch(() => socket.destroy());
}
