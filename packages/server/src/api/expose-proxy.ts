/**
 * Forwards one request (or WebSocket upgrade) to an exposed sandbox port (docs/network.md,
 * "exposeHttp"). The listeners and the routing live in expose-gateway.ts; this file moves the
 * bytes. What the sandbox's server answers is hostile: its head is checked before it is written
 * (response-head.ts), and every failure ends this one request with a 502.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type Duplex, pipeline } from "node:stream";
import { forwardedHeaders } from "./expose-headers.js";
import { checkResponseHead } from "./response-head.js";

/** What the proxy needs from the daemon. */
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

/** Answers with a short text error, or cuts the connection when the head is already out. */
export function plainError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", connection: "close" });
  res.end(`${message}\n`);
}

export function proxyRequest(target: ExposeTarget, req: IncomingMessage, res: ServerResponse, m: Routed): void {
  void target
    .connect(m.token)
    .then((conn) => {
      if (!("pipe" in conn)) return plainError(res, conn.missing ? 404 : 502, conn.message);
      conn.on("error", noop); // the request below reports it
      if (res.destroyed) return void conn.destroy();
      res.on("close", () => conn.destroy());
      const upstream = http.request({
        method: req.method,
        path: m.path,
        headers: forwardedHeaders(req.rawHeaders, (v) => target.isAtollToken(v), false) as unknown as http.OutgoingHttpHeaders,
        setHost: false,
        // No agent: the request uses this one connection.
        createConnection: () => conn as Socket,
      });
      upstream.on("response", (up) => {
        const head = checkResponseHead(up, m.extraHeaders);
        if (typeof head === "string") {
          up.destroy();
          return plainError(res, 502, `The sandbox's server sent a response Atoll cannot forward: ${head}.`);
        }
        try {
          res.writeHead(head.status, head.message, head.headers);
        } catch (err) {
          up.destroy();
          return plainError(res, 502, `The sandbox's server sent a response Atoll cannot forward: ${(err as Error).message}.`);
        }
        pipeline(up, res, noop);
      });
      upstream.on("error", (err) => plainError(res, 502, `The sandbox's server failed: ${err.message}`));
      res.on("close", () => upstream.destroy());
      pipeline(req, upstream, noop);
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
      conn.on("error", () => socket.destroy());
      if (socket.destroyed) return void conn.destroy();
      const headers = forwardedHeaders(req.rawHeaders, (v) => target.isAtollToken(v), true);
      const lines = [`${req.method} ${m.path} HTTP/1.1`];
      for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
      conn.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) conn.write(head);
      socket.on("close", () => conn.destroy());
      conn.on("close", () => socket.destroy());
      conn.pipe(socket).pipe(conn);
    })
    .catch(() => socket.destroy());
}
