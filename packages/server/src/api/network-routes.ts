/**
 * Network routes (docs/architecture.md, docs/network.md):
 *   POST /v1/sandboxes/:id/allow-net  { allowNet: string[] | null }  → SandboxInfo
 *   POST /v1/sandboxes/:id/expose     { port }                       → ExposedPort
 *   POST /v1/sandboxes/:id/fetch      an HTTP request made from the sandbox's network:
 *        x-atoll-url (absolute http(s) URL), x-atoll-method, x-atoll-headers (JSON object);
 *        the body is the request body. The answer is the upstream response itself, marked
 *        `x-atoll-fetch: 1`; Atoll errors (FETCH_FAILED, …) come as usual JSON errors.
 */
import http, { type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { pipeline, type Duplex } from "node:stream";
import tls from "node:tls";
import { InvalidArgumentError, NetworkError } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

/** Response headers that describe the hop to the sandbox, not the answer. */
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

function parseFetchHeaders(req: IncomingMessage): { url: URL; method: string; headers: Record<string, string> } {
  const rawUrl = req.headers["x-atoll-url"];
  let url: URL;
  try {
    url = new URL(String(rawUrl ?? ""));
  } catch {
    throw new InvalidArgumentError("sandbox.fetch needs an absolute http:// or https:// URL (x-atoll-url)");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(`sandbox.fetch supports http and https, not ${url.protocol}`);
  const method = String(req.headers["x-atoll-method"] ?? "GET").toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method)) throw new InvalidArgumentError(`bad method ${method}`);
  let headers: Record<string, string> = {};
  if (req.headers["x-atoll-headers"]) {
    try {
      headers = JSON.parse(String(req.headers["x-atoll-headers"])) as Record<string, string>;
    } catch {
      throw new InvalidArgumentError("x-atoll-headers must be a JSON object of header names to values");
    }
  }
  return { url, method, headers };
}

export function registerNetworkRoutes(app: FastifyInstance, services: Services): void {
  const { sandboxes } = services;
  const network = () => {
    if (!services.network) throw new InvalidArgumentError("This daemon runs without sandbox networking");
    return services.network;
  };

  app.post<IdParams>("/v1/sandboxes/:id/allow-net", async (req) => {
    sandboxes.get(req.principal.tenant, req.params.id);
    await network().setAllowNet(req.principal.tenant, req.params.id, req.body ?? {});
    return sandboxes.get(req.principal.tenant, req.params.id);
  });

  app.post<IdParams>("/v1/sandboxes/:id/expose", async (req) => {
    sandboxes.get(req.principal.tenant, req.params.id);
    return network().expose(req.principal.tenant, req.params.id, req.body ?? {});
  });

  // The body is streamed to the sandbox as it comes: no JSON parsing in this scope.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    scope.post<IdParams>("/v1/sandboxes/:id/fetch", { bodyLimit: 2 ** 40 }, async (req, reply) => {
      const tenant = req.principal.tenant;
      sandboxes.assertRunning(tenant, req.params.id);
      const net = network();
      const { url, method, headers } = parseFetchHeaders(req.raw);
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      let conn: Duplex = await net.connect(req.params.id, url.hostname, port);
      if (url.protocol === "https:") {
        const ca = net.trustFor(req.params.id);
        const servername = url.hostname.replace(/^\[|\]$/g, "");
        conn = await new Promise<Duplex>((resolve, reject) => {
          const t = tls.connect({ socket: conn as Socket, servername: /^[\d.]+$|:/.test(servername) ? undefined : servername, ca, ALPNProtocols: ["http/1.1"] });
          t.once("secureConnect", () => resolve(t));
          t.once("error", (err) => reject(new NetworkError("FETCH_FAILED", `TLS to ${url.host} from the sandbox's network failed: ${err.message}`)));
        });
      }
      const body = req.body as NodeJS.ReadableStream | undefined;
      const upstream = http.request({
        method,
        path: `${url.pathname}${url.search}`,
        headers: { host: url.host, ...headers },
        createConnection: () => conn as Socket,
      });
      const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
        upstream.once("response", resolve);
        upstream.once("error", (err) => reject(new NetworkError("FETCH_FAILED", `${method} ${url.href} from the sandbox's network failed: ${err.message}`)));
        if (body && method !== "GET" && method !== "HEAD") pipeline(body, upstream, () => undefined);
        else upstream.end();
      });
      reply.hijack();
      const out: Record<string, string | string[]> = { "x-atoll-fetch": "1" };
      for (const [k, v] of Object.entries(response.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      reply.raw.writeHead(response.statusCode ?? 502, response.statusMessage, out);
      pipeline(response, reply.raw, () => conn.destroy());
    });
  });
}
