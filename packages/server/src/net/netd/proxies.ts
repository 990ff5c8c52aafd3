/**
 * The egress proxy: sandboxes' TCP 80 and 443 arrive here (nft dnat) when their policy has host
 * name rules, or when they go to a secret host's address. Every request or TLS connection is
 * checked against the sandbox's allowNet by its Host header / TLS server name, and the proxy
 * resolves and dials the checked name itself: a forged SNI or a shared CDN address reaches only
 * the name that was checked.
 *
 * Port 80: an HTTP server, each request checked and forwarded (secrets substituted).
 * Port 443: the ClientHello's SNI is read; without secrets for that name the TLS bytes are
 * relayed untouched; with secrets the connection is terminated with a certificate from the
 * sandbox's CA and each request is forwarded over a new, verified TLS connection.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import type { SandboxBudgets } from "./budgets.js";
import { plainAddress } from "./dns-server.js";
import { MAX_HEADER_BYTES, endToEnd } from "../../http/forward-headers.js";
import { relayUpgrade } from "../../http/http-forwarder.js";
import { forwardRequest, refuse } from "./http-forward.js";
import { type SandboxPolicy, hostPortAllowed, ipFamily, normalizeName, secretsFor } from "./policy-match.js";
import { ClientHelloReader, tlsAlert } from "./sni.js";

/** Time a client has to send a request head, or a TLS ClientHello. */
const HEAD_TIMEOUT_MS = 20_000;
/** A proxied connection with no traffic either way for this long is closed. */
const IDLE_TIMEOUT_MS = 300_000;

export interface ProxyContext {
  policyOf(ip: string): SandboxPolicy | undefined;
  /** The upstream resolver's addresses for a name. */
  lookup(name: string): Promise<string[]>;
  /** true when the sandbox may never reach `address` (its closed ranges: metadata, private, …). */
  closedFor(policy: SandboxPolicy, address: string): boolean;
  budgets: SandboxBudgets;
  /** Roots trusted for upstream servers (system roots + configured extra CA). */
  upstreamCa: string[];
  /** TLS context with a certificate for `name` from the sandbox's CA. */
  interceptContext(policy: SandboxPolicy, name: string): Promise<tls.SecureContext>;
  log(message: string, data: Record<string, unknown>): void;
}

/** Splits a Host header into name and port ("[2001:db8::1]:8080" → ["2001:db8::1", 8080]). */
export function parseHostHeader(value: string | undefined): { name: string; port: number | null } | null {
  if (!value) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return null;
  return { name: normalizeName(m[1]!.replace(/^\[|\]$/g, "")), port: m[2] ? Number(m[2]) : null };
}

/** Addresses to dial for a checked host: the literal itself, or the resolver's, minus closed ones. */
async function addressesFor(ctx: ProxyContext, policy: SandboxPolicy, host: string): Promise<string[]> {
  if (ipFamily(host) !== null) {
    // A literal reaches the proxy only when no IP rule let it bypass: unrestricted sandboxes.
    return policy.rules === null && !ctx.closedFor(policy, host) ? [host] : [];
  }
  return (await ctx.lookup(host)).filter((a) => !ctx.closedFor(policy, a));
}

/**
 * Admits a new connection to a proxy: its source must be a sandbox with budget left. Returns
 * the sandbox's policy, or undefined after closing the connection.
 */
function admitConnection(ctx: ProxyContext, sock: net.Socket): SandboxPolicy | undefined {
  sock.on("error", () => undefined);
  const policy = ctx.policyOf(plainAddress(sock.remoteAddress));
  const release = policy && ctx.budgets.take(policy.id, "proxyConnections");
  if (!policy || !release) {
    sock.destroy();
    return undefined;
  }
  sock.once("close", release);
  return policy;
}

/** The checks shared by both proxies; sends the refusal itself and returns undefined when refused. */
async function checkedTarget(ctx: ProxyContext, policy: SandboxPolicy, host: string, port: number): Promise<{ addresses: string[] } | { refused: string }> {
  if (!hostPortAllowed(policy, host, port)) return { refused: `${host}:${port} is not in this sandbox's allowNet` };
  const lost = secretsFor(policy, host).filter((s) => s.lost);
  if (lost.length > 0)
    return { refused: `the secret ${lost[0]!.name} for ${host} was lost when the resolver restarted without the daemon; create the sandbox again to use it` };
  const addresses = await addressesFor(ctx, policy, host);
  if (addresses.length === 0) return { refused: `${host} has no address this sandbox may connect to` };
  return { addresses };
}

/** HTTP requests of one sandbox connection (plain port 80, or decrypted port 443 when `tlsName`). */
async function handleRequest(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse, tlsName: string | undefined): Promise<void> {
  // Intercepted TLS runs over a relay without a remote address: the proxy noted the sandbox's.
  const ip = (req.socket as { atollIp?: string }).atollIp ?? plainAddress(req.socket.remoteAddress);
  const policy = ctx.policyOf(ip);
  if (!policy) return refuse(res, 403, "unknown sandbox");
  const host = parseHostHeader(req.headers.host);
  if (!host) return refuse(res, 400, "the request has no valid Host header");
  const port = tlsName ? 443 : 80;
  if (tlsName && host.name !== tlsName) return refuse(res, 421, `Host ${host.name} does not match the TLS server name ${tlsName}`);
  const target = await checkedTarget(ctx, policy, host.name, port);
  if ("refused" in target) {
    ctx.log("request refused", { sandboxId: policy.id, host: host.name, port });
    return refuse(res, 403, target.refused);
  }
  forwardRequest(req, res, {
    name: host.name,
    addresses: target.addresses,
    port,
    tls: tlsName !== undefined,
    secrets: secretsFor(policy, host.name),
    ca: ctx.upstreamCa,
  });
}

function onRequestError(res: ServerResponse) {
  return (err: unknown) => refuse(res, 502, (err as Error).message);
}

/** Limits every proxy's HTTP server applies to what a sandbox sends. */
function limitServer(server: http.Server): http.Server {
  server.headersTimeout = HEAD_TIMEOUT_MS;
  server.requestTimeout = 0; // uploads may take long; idleness is limited instead
  server.keepAliveTimeout = 5_000;
  server.setTimeout(IDLE_TIMEOUT_MS, (sock) => sock.destroy());
  server.on("clientError", (_err, sock) => sock.destroy());
  return server;
}

/** Relays an upgrade request (WebSocket …) to `address`:80, once it was checked: its end-to-end head, then raw bytes. */
function relayUpgradeTo(req: IncomingMessage, sock: net.Socket, head: Buffer, address: string): void {
  const up = net.connect({ host: address, port: 80 });
  relayUpgrade(up, sock, { method: req.method ?? "GET", path: req.url ?? "/", headers: endToEnd(req.rawHeaders, "upgrade"), already: head });
}

/** The port-80 proxy. */
export function createHttpProxy(ctx: ProxyContext): http.Server {
  const server = limitServer(
    http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => void handleRequest(ctx, req, res, undefined).catch(onRequestError(res))),
  );
  server.on("connection", (sock: net.Socket) => void admitConnection(ctx, sock));
  // WebSocket and other upgrades: checked like a request, then relayed as raw bytes.
  server.on("upgrade", (req: IncomingMessage, sock: net.Socket, head: Buffer) => {
    sock.on("error", () => undefined);
    const deny = (status: string, message: string) =>
      sock.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\natoll: ${message}\n`);
    void (async () => {
      const policy = ctx.policyOf(plainAddress(sock.remoteAddress));
      const host = parseHostHeader(req.headers.host);
      if (!policy || !host) return deny("403 Forbidden", "unknown sandbox or no valid Host");
      const target = await checkedTarget(ctx, policy, host.name, 80);
      if ("refused" in target) return deny("403 Forbidden", target.refused);
      if (secretsFor(policy, host.name).length > 0) return deny("501 Not Implemented", "upgrades to a secret's host are not supported");
      relayUpgradeTo(req, sock, head, target.addresses[0]!);
    })().catch(() => sock.destroy());
  });
  return server;
}

/**
 * `sock` as a plain Duplex that first yields `already` (bytes read to find the SNI). A TLSSocket
 * over a net.Socket would read its handle directly and never see bytes already consumed.
 */
function replay(sock: net.Socket, already: Buffer): Duplex {
  const d = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      sock.write(chunk, cb);
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  d.push(already);
  sock.on("data", (chunk: Buffer) => {
    if (!d.push(chunk)) sock.pause();
  });
  sock.on("end", () => d.push(null));
  sock.on("close", () => d.destroy());
  return d;
}

/**
 * Sends a fatal alert and closes the connection at once: a client that keeps sending (a flood
 * of empty records) must not hold the connection, and the kernel buffers behind it, until it
 * gives up.
 */
function refuseTls(sock: net.Socket, alert: number): void {
  sock.end(tlsAlert(alert), () => sock.destroy());
}

/** The port-443 proxy. */
export function createTlsProxy(ctx: ProxyContext): net.Server {
  const intercepted = limitServer(
    http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      const name = (req.socket as tls.TLSSocket & { atollName?: string }).atollName;
      void handleRequest(ctx, req, res, name ?? "").catch(onRequestError(res));
    }),
  );

  return net.createServer((sock) => {
    const policy = admitConnection(ctx, sock);
    if (!policy) return;
    const ip = plainAddress(sock.remoteAddress);
    sock.setTimeout(HEAD_TIMEOUT_MS, () => sock.destroy());
    // The bytes read to find the server name are held (and counted) until the connection is routed.
    const reader = new ClientHelloReader();
    let held = 0;
    const unhold = () => {
      ctx.budgets.releaseBytes(policy.id, held);
      held = 0;
    };
    sock.once("close", unhold);
    const onData = (chunk: Buffer) => {
      if (!ctx.budgets.reserveBytes(policy.id, chunk.length)) {
        ctx.log("TLS connection over its buffer budget closed", { sandboxId: policy.id });
        sock.destroy();
        return;
      }
      held += chunk.length;
      const hello = reader.push(chunk);
      if (hello.status === "more") return;
      sock.off("data", onData);
      sock.pause();
      if (hello.status === "not-tls") ctx.log("not a TLS ClientHello", { sandboxId: policy.id, reason: hello.reason });
      const buffered = reader.raw();
      void route(hello.status === "ok" ? hello.serverName : null, buffered)
        .catch(() => sock.destroy())
        .finally(unhold);
    };
    const route = async (serverName: string | null, buffered: Buffer) => {
      if (!serverName) {
        ctx.log("TLS without a server name refused", { sandboxId: policy.id });
        refuseTls(sock, 112); // unrecognized_name
        return;
      }
      const target = await checkedTarget(ctx, policy, serverName, 443);
      if ("refused" in target) {
        ctx.log("TLS connection refused", { sandboxId: policy.id, serverName });
        refuseTls(sock, 49); // access_denied
        return;
      }
      sock.setTimeout(IDLE_TIMEOUT_MS);
      if (secretsFor(policy, serverName).length === 0) {
        // Relay untouched to the checked name's own address.
        const up = net.connect({ host: target.addresses[0]!, port: 443 });
        up.on("connect", () => {
          up.write(buffered);
          sock.resume();
          sock.pipe(up).pipe(sock);
        });
        up.on("error", () => sock.destroy());
        up.setTimeout(IDLE_TIMEOUT_MS, () => up.destroy());
        sock.on("close", () => up.destroy());
        return;
      }
      const secureContext = await ctx.interceptContext(policy, serverName);
      const tlsSock = new tls.TLSSocket(replay(sock, buffered), { isServer: true, secureContext, ALPNProtocols: ["http/1.1"] }) as tls.TLSSocket & {
        atollName?: string;
        atollIp?: string;
      };
      tlsSock.atollName = serverName;
      tlsSock.atollIp = ip;
      tlsSock.on("error", () => sock.destroy());
      intercepted.emit("connection", tlsSock);
      sock.resume();
    };
    sock.on("data", onData);
  });
}
