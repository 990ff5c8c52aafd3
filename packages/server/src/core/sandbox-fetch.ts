/**
 * sandbox.fetch for the network service (docs/network.md): an HTTP(S) request made from inside
 * a sandbox's network. The connection comes from the network driver (so the sandbox's allowNet,
 * resolver and egress proxy apply), TLS is verified against the roots the service trusts for
 * the sandbox, and the request goes through the shared forwarder (http/http-forwarder.ts).
 */
import type { Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import tls from "node:tls";
import { NetworkError } from "atoll/contract";
import { type ForwardResult, forward } from "../http/http-forwarder.js";
import { endToEnd } from "../http/forward-headers.js";

/** A request sandbox.fetch makes (already parsed by the route). */
export interface FetchRequest {
  /** Absolute http:// or https:// URL. */
  url: URL;
  method: string;
  /** Request headers; a `host` among them replaces the URL's. Hop-by-hop ones are dropped. */
  headers: Record<string, string>;
  /** Request body (ignored for GET and HEAD). */
  body?: Readable | undefined;
}

/** The upstream's answer: a checked head and its body, and how to end the connection. */
export type FetchResponse = Extract<ForwardResult, { head: unknown }> & {
  /** Ends the connection into the sandbox (when the relay ends or fails). */
  close(): void;
};

/** What sandbox.fetch needs of the network service. */
export interface FetchNetwork {
  connect(id: string, host: string, port: number): Promise<Duplex>;
  trustFor(id: string): string[];
}

/** Whether a URL host is an IP literal (no SNI for those). */
const isIpLiteral = (host: string) => /^[\d.]+$|:/.test(host);

/** TLS over `raw` to `url`'s host, verified against `ca`. */
function startTls(raw: Duplex, url: URL, ca: string[]): Promise<Duplex> {
  const servername = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise<Duplex>((resolve, reject) => {
    const t = tls.connect({ socket: raw as Socket, servername: isIpLiteral(servername) ? undefined : servername, ca, ALPNProtocols: ["http/1.1"] });
    t.on("error", () => raw.destroy());
    t.once("secureConnect", () => resolve(t));
    t.once("error", (err) => reject(new NetworkError("FETCH_FAILED", `TLS to ${url.host} from the sandbox's network failed: ${err.message}`)));
  });
}

/**
 * Makes `r` from the sandbox `id`'s network. Throws FETCH_FAILED when the server cannot be
 * reached or its response head cannot be forwarded; `signal` (the caller went away) ends the
 * connection at any point.
 *
 * @example
 *   const res = await fetchFromSandbox(network, id, { url: new URL("http://localhost:3000/"), method: "GET", headers: {} }, signal);
 */
export async function fetchFromSandbox(network: FetchNetwork, id: string, r: FetchRequest, signal: AbortSignal): Promise<FetchResponse> {
  const { url, method } = r;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const raw = await network.connect(id, url.hostname, port);
  // Errors of the connection reach the request below; none may go unheard.
  raw.on("error", () => undefined);
  const close = () => raw.destroy();
  if (signal.aborted) close();
  else signal.addEventListener("abort", close, { once: true });
  const conn = url.protocol === "https:" ? await startTls(raw, url, network.trustFor(id)) : raw;
  const given = Object.entries(r.headers).flat();
  const hasHost = Object.keys(r.headers).some((n) => n.toLowerCase() === "host");
  const f = await forward(
    {
      method,
      path: `${url.pathname}${url.search}`,
      headers: endToEnd([...(hasHost ? [] : ["host", url.host]), ...given], "body"),
      body: method !== "GET" && method !== "HEAD" ? r.body : undefined,
      upstream: { connection: conn },
      signal,
    },
    { extra: ["x-atoll-fetch", "1"] },
  );
  if ("failed" in f) {
    close();
    const what = f.failed === "head" ? `the server's response cannot be forwarded: ${f.message}` : f.message;
    throw new NetworkError("FETCH_FAILED", `${method} ${url.href} from the sandbox's network failed: ${what}`);
  }
  return { ...f, close };
}
