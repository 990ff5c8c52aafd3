/**
 * Network routes (docs/architecture.md, docs/network.md):
 *   POST /v1/sandboxes/:id/allow-net  { allowNet: string[] | null }  → SandboxInfo
 *   POST /v1/sandboxes/:id/expose     { port }                       → ExposedPort
 *   POST /v1/sandboxes/:id/fetch      an HTTP request made from the sandbox's network:
 *        x-atoll-url (absolute http(s) URL), x-atoll-method, x-atoll-headers (JSON object);
 *        the body is the request body. The answer is the upstream response itself, marked
 *        `x-atoll-fetch: 1`; Atoll errors (FETCH_FAILED, …) come as usual JSON errors.
 */
import { type IncomingMessage, validateHeaderName, validateHeaderValue } from "node:http";
import type { Readable } from "node:stream";
import { InvalidArgumentError } from "atoll/contract";
import type { FastifyInstance } from "fastify";
import { relayResponse } from "../http/http-forwarder.js";
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
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new InvalidArgumentError("x-atoll-headers must be a JSON object of header names to values");
    for (const [name, value] of Object.entries(parsed)) {
      try {
        if (typeof value !== "string") throw new InvalidArgumentError("not a string");
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
      // The caller going away ends the request and the connection into the sandbox.
      const gone = new AbortController();
      reply.raw.once("close", () => gone.abort());
      const res = await net.fetch(req.params.id, { url, method, headers, body: req.body as Readable | undefined }, gone.signal);
      reply.hijack();
      if (relayResponse(res, reply.raw, () => res.close()) !== undefined) {
        res.close();
        reply.raw.destroy();
      }
    });
  });
}
