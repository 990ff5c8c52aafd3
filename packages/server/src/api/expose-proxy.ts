/**
 * Serves exposed sandbox ports (docs/network.md, "exposeHttp"): requests to
 * `http://<token>.sbx.localhost:<port>/…` or `http://<daemon>/expose/<token>/…` are forwarded to
 * the sandbox's port (its own 127.0.0.1, or ::1), WebSocket upgrades included. No API token: the
 * unguessable token is the capability. Runs in front of Fastify (see http-server.ts).
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import { EXPOSE_DOMAIN, type NetworkService } from "../core/network-service.js";

const HOST_PATTERN = new RegExp(`^([a-z2-7]{26})\\.${EXPOSE_DOMAIN.replace(/\./g, "\\.")}(?::\\d+)?$`, "i");
const PATH_PATTERN = /^\/expose\/([a-z2-7]{26})(\/.*)?$/;

/** The token and the path to forward, when `req` is for an exposed port. */
export function matchExposed(req: IncomingMessage): { token: string; path: string } | undefined {
  const host = HOST_PATTERN.exec(req.headers.host ?? "");
  if (host) return { token: host[1]!.toLowerCase(), path: req.url ?? "/" };
  const path = PATH_PATTERN.exec(req.url ?? "");
  if (path) return { token: path[1]!, path: path[2] ?? "/" };
  return undefined;
}

function plainError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(`${message}\n`);
}

async function connectTo(network: NetworkService, token: string): Promise<Duplex | string> {
  const e = network.exposure(token);
  if (!e) return "Nothing is exposed at this URL (the sandbox ended, or the URL is wrong).";
  try {
    return await network.connect(e.sandboxId, "localhost", e.port);
  } catch (err) {
    return `The sandbox's port ${e.port} does not answer: ${(err as Error).message}`;
  }
}

export function handleExposedRequest(network: NetworkService, req: IncomingMessage, res: ServerResponse, m: { token: string; path: string }): void {
  void connectTo(network, m.token).then((conn) => {
    if (typeof conn === "string") return plainError(res, conn.startsWith("Nothing") ? 404 : 502, conn);
    const upstream = http.request(
      // createConnection without an agent: the request uses this one connection.
      { method: req.method, path: m.path, headers: req.headers, createConnection: () => conn as unknown as import("node:net").Socket },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
        pipeline(up, res, () => undefined);
      },
    );
    upstream.on("error", (err) => plainError(res, 502, `The sandbox's server failed: ${err.message}`));
    res.on("close", () => upstream.destroy());
    pipeline(req, upstream, () => undefined);
  });
}

/** Upgrades (WebSocket): the request head is replayed to the sandbox, then bytes are relayed. */
export function handleExposedUpgrade(network: NetworkService, req: IncomingMessage, socket: Duplex, head: Buffer, m: { token: string; path: string }): void {
  socket.on("error", () => undefined);
  void connectTo(network, m.token).then((conn) => {
    if (typeof conn === "string") {
      socket.end(`HTTP/1.1 ${conn.startsWith("Nothing") ? "404 Not Found" : "502 Bad Gateway"}\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\n${conn}\n`);
      return;
    }
    const lines = [`${req.method} ${m.path} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    conn.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) conn.write(head);
    conn.on("error", () => socket.destroy());
    socket.on("close", () => conn.destroy());
    conn.pipe(socket).pipe(conn);
  });
}

/**
 * Fastify `serverFactory`: exposed-port requests and upgrades are served before Fastify sees
 * them (no API token, no body parsing); everything else goes to Fastify.
 */
export function exposeServerFactory(network: NetworkService) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): http.Server => {
    const server = http.createServer((req, res) => {
      const m = matchExposed(req);
      if (m) handleExposedRequest(network, req, res, m);
      else handler(req, res);
    });
    // Upgrade listeners (the session WebSocket) must not see exposed upgrades at all.
    const emit = server.emit.bind(server);
    server.emit = ((event: string, ...args: unknown[]) => {
      if (event === "upgrade") {
        const [req, socket, head] = args as [IncomingMessage, Duplex, Buffer];
        const m = matchExposed(req);
        if (m) {
          handleExposedUpgrade(network, req, socket, head, m);
          return true;
        }
      }
      return emit(event, ...args);
    }) as typeof server.emit;
    return server;
  };
}
