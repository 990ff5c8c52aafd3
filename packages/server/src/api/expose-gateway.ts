/**
 * Where exposed sandbox ports are served (docs/network.md, "exposeHttp"): never on the API's
 * or the dashboard's host:port, and never two sandboxes on one site.
 *
 * - loopback (default): each exposure gets an HTTP listener of its own on a fresh address in
 *   127.64.0.0/10 (an ephemeral port), URL `http://127.a.b.c:P/<token>/`. An IP address is a
 *   site of its own for browsers (cookies cannot be shared with another address), and it needs
 *   no DNS, so Node's fetch, curl and browsers all reach it. The 130-bit token stays the
 *   capability: a request must start with `/<token>` (stripped before forwarding) or carry the
 *   HttpOnly gate cookie `atoll_expose` the first such response sets, so pages that use
 *   absolute paths (`/assets/app.js`) work in a browser while a local user who found the
 *   listener in /proc/net/tcp gets 404.
 * - domain (`--expose-domain`): one listener serves `<token>.<domain>` by Host header.
 *
 * Every listener has the per-address connection cap and the head/body timeouts of HttpLimits.
 */
import { randomInt, timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { NOT_EXPOSED, type Routed, plainError } from "../core/expose-proxy.js";
import type { ExposeFront, NetworkService } from "../core/network-service.js";
import { guardConnections } from "./connection-guard.js";
import { cookieOf } from "./session-cookie.js";
import type { ExposeConfig, HttpLimits } from "./web-config.js";
import { DaemonError } from "../daemon-error.js";

/** Cookie that lets a browser use absolute paths on a loopback exposure after its first visit. */
export const GATE_COOKIE = "atoll_expose";
const TOKEN = "[a-z2-7]{26}";

function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Routes a request on the loopback listener of `token`; undefined: 404. */
export function routeLoopback(token: string, req: Pick<IncomingMessage, "url" | "headers">): Routed | undefined {
  const url = req.url ?? "";
  if (!url.startsWith("/")) return undefined;
  const first = /^\/([^/?#]*)/.exec(url)![1];
  if (sameSecret(first, token)) {
    const rest = url.slice(token.length + 1);
    const gate = `${GATE_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
    return { token, path: rest.startsWith("/") ? rest : `/${rest}`, extraHeaders: ["set-cookie", gate] };
  }
  if (sameSecret(cookieOf(req.headers, GATE_COOKIE), token)) return { token, path: url, extraHeaders: [] };
  return undefined;
}

/**
 * A router for the domain listener: a request is routed by its Host (`<token>.<domain>[:port]`).
 *
 * @example domainRouter("sbx.example.com")({ url: "/", headers: { host: "<token>.sbx.example.com" } })
 */
export function domainRouter(domain: string): (req: Pick<IncomingMessage, "url" | "headers">) => Routed | undefined {
  const host = new RegExp(`^(${TOKEN})\\.${domain.replace(/\./g, "\\.")}\\.?(?::\\d{1,5})?$`);
  return (req) => {
    const m = host.exec((req.headers.host ?? "").toLowerCase());
    const url = req.url ?? "";
    if (!m || !url.startsWith("/")) return undefined;
    return { token: m[1]!, path: url, extraHeaders: [] };
  };
}

/** Where routed requests go: the network service forwards them to the exposed port. */
export type ExposeProxy = Pick<NetworkService, "proxyExposed" | "proxyExposedUpgrade">;

/** A fresh address in 127.64.0.0/10, not `avoid` and not one in use. */
function loopbackAddress(avoid: Set<string>): string {
  for (;;) {
    const a = `127.${randomInt(64, 128)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    if (!avoid.has(a)) return a;
  }
}

interface Listener {
  server: http.Server;
  /** Relayed WebSocket connections: the server does not track them after the upgrade. */
  upgraded: Set<Duplex>;
}

export class ExposeGateway implements ExposeFront {
  private readonly byToken = new Map<string, Listener>();
  private domainListener: Listener | undefined;

  constructor(
    private readonly deps: {
      config: ExposeConfig;
      limits: HttpLimits;
      proxy: ExposeProxy;
      /** host:port of the API: never handed out. */
      apiHost: string;
      logger: Logger;
    },
  ) {}

  /** Domain mode: binds the shared listener (before the daemon says it is listening). */
  async start(): Promise<void> {
    const c = this.deps.config;
    if (c.mode !== "domain") return;
    const listener = this.listener(domainRouter(c.domain));
    await listen(listener.server, c.listenHost, c.listenPort);
    this.domainListener = listener;
    this.deps.logger.info({ listen: `${c.listenHost}:${(listener.server.address() as AddressInfo).port}`, domain: c.domain }, "serving exposed ports");
  }

  async open(token: string, previousUrl?: string): Promise<string> {
    const c = this.deps.config;
    if (c.mode === "domain") {
      const port = c.publicPort === "listener" ? (this.domainListener?.server.address() as AddressInfo | null)?.port : c.publicPort;
      return `${c.scheme}://${token}.${c.domain}${port === undefined ? "" : `:${port}`}/`;
    }
    const listener = this.listener((req) => routeLoopback(token, req));
    // After a daemon restart an exposure keeps its URL: the same address and port when still free.
    const previous = /^http:\/\/(127\.\d+\.\d+\.\d+):(\d+)\//.exec(previousUrl ?? "");
    if (previous) {
      const ok = await listen(listener.server, previous[1]!, Number(previous[2])).then(
        () => true,
        () => false,
      );
      if (ok) {
        this.byToken.set(token, listener);
        return previousUrl!;
      }
      this.deps.logger.warn({ url: previousUrl }, "an exposed port's previous address is taken: it gets a new URL");
    }
    const inUse = new Set([this.deps.apiHost, ...[...this.byToken.values()].map((l) => (l.server.address() as AddressInfo | null)?.address ?? "")]);
    try {
      await listen(listener.server, loopbackAddress(inUse), 0);
    } catch (err) {
      throw new DaemonError(
        "HOST_NOT_READY",
        `no loopback listener for the exposed port (${(err as Error).message}); a host whose lo lacks 127.0.0.0/8 needs --expose-domain`,
        { cause: err },
      );
    }
    this.byToken.set(token, listener);
    const a = listener.server.address() as AddressInfo;
    return `http://${a.address}:${a.port}/${token}/`;
  }

  close(token: string): void {
    const l = this.byToken.get(token);
    if (!l) return;
    this.byToken.delete(token);
    shut(l);
  }

  /** Daemon shutdown: every listener and relayed connection. */
  closeAll(): void {
    for (const token of [...this.byToken.keys()]) this.close(token);
    if (this.domainListener) shut(this.domainListener);
    this.domainListener = undefined;
  }

  private listener(route: (req: IncomingMessage) => Routed | undefined): Listener {
    const { limits, proxy, logger } = this.deps;
    const upgraded = new Set<Duplex>();
    const server = http.createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: Math.max(limits.exposeRequestTimeoutMs, limits.headersTimeoutMs),
        connectionsCheckingInterval: 1000,
        keepAliveTimeout: 5000,
      },
      (req: IncomingMessage, res: ServerResponse) => {
        const m = route(req);
        if (m) proxy.proxyExposed(req, res, m);
        else plainError(res, 404, NOT_EXPOSED);
      },
    );
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgraded.add(socket);
      socket.once("close", () => upgraded.delete(socket));
      const m = route(req);
      if (m) proxy.proxyExposedUpgrade(req, socket, head, m);
      else socket.end(`HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n${NOT_EXPOSED}\n`);
    });
    // Malformed requests and timeouts get Node's own 400/408/431 answer (no clientError listener).
    // A listener's own errors (accept failing with EMFILE, …) are logged, never thrown.
    server.on("error", (err) => logger.warn({ err }, "exposed port listener failed"));
    guardConnections(server, limits.connectionsPerAddress, (key) => logger.debug({ client: key }, "exposed port: connection refused (per-address cap)"));
    return { server, upgraded };
  }
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function shut(l: Listener): void {
  l.server.close();
  l.server.closeAllConnections();
  for (const s of l.upgraded) s.destroy();
}
