/**
 * Network routes (docs/architecture.md, docs/network.md):
 *   POST /v1/sandboxes/:id/allow-net  { allowNet: string[] | null }  → SandboxInfo
 *   POST /v1/sandboxes/:id/expose     { port }                       → ExposedPort
 *   POST /v1/sandboxes/:id/fetch      an HTTP request made from the sandbox's network:
 *        x-atoll-url (absolute http(s) URL), x-atoll-method, x-atoll-headers (JSON object);
 *        the body is the request body. The answer is the upstream response itself, marked
 *        `x-atoll-fetch: 1`; Atoll errors (FETCH_FAILED, …) come as usual JSON errors.
 */
import http, { type IncomingMessage, validateHeaderName, validateHeaderValue } from "node:http";
import type { Socket } from "node:net";
import { pipeline, type Duplex } from "node:stream";
import tls from "node:tls";
import { InvalidArgumentError, NetworkError } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import { checkResponseHead } from "./response-head.js";
import type { Services } from "./services.js";

type IdParams = { Params: { id: string } };

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
  const headers: Record<string, string> = {};
  if (req.headers["x-atoll-headers"]) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(req.headers["x-atoll-headers"]));
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new InvalidArgumentError("x-atoll-headers must be a JSON object of header names to values");
    for (const [name, value] of Object.entries(parsed)) {
      try {
        if (typeof value !== "string") throw new Error("not a string");
        validateHeaderName(name);
        validateHeaderValue(name, value);
      } catch {
        throw new InvalidArgumentError(`sandbox.fetch: header ${JSON.stringify(name.slice(0, 64))} is not a valid HTTP header name with a string value`);
      }
      headers[name] = value;
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
      const raw: Duplex = await net.connect(req.params.id, url.hostname, port);
      // Errors of the connection reach the request below; none may go unheard.
      raw.on("error", () => undefined);
      // The caller going away ends the connection into the sandbox.
      reply.raw.once("close", () => raw.destroy());
      let conn = raw;
      if (url.protocol === "https:") {
        const ca = net.trustFor(req.params.id);
        const servername = url.hostname.replace(/^\[|\]$/g, "");
        conn = await new Promise<Duplex>((resolve, reject) => {
          const t = tls.connect({ socket: raw as Socket, servername: /^[\d.]+$|:/.test(servername) ? undefined : servername, ca, ALPNProtocols: ["http/1.1"] });
          t.on("error", () => raw.destroy());
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
      const failed = (what: string) => new NetworkError("FETCH_FAILED", `${method} ${url.href} from the sandbox's network failed: ${what}`);
      const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
        upstream.once("response", resolve);
        upstream.on("error", (err) => reject(failed(err.message)));
        if (body && method !== "GET" && method !== "HEAD") pipeline(body, upstream, () => undefined);
        else upstream.end();
      });
      // The server's head is checked before anything is written: a bad one is a FETCH_FAILED error.
      const head = checkResponseHead(response, ["x-atoll-fetch", "1"]);
      if (typeof head === "string") {
        raw.destroy();
        throw failed(`the server's response cannot be forwarded: ${head}`);
      }
      reply.hijack();
      try {
        reply.raw.writeHead(head.status, head.message, head.headers);
      } catch {
        raw.destroy();
        reply.raw.destroy();
        return;
      }
      pipeline(response, reply.raw, () => raw.destroy());
    });
  });
}
