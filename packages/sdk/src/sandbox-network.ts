/**
 * The network side of a Sandbox (docs/network.md): changing allowNet, exposing ports, and
 * HTTP requests made from inside the sandbox's network (`sandbox.fetch`).
 */
import { unreachableError } from "./connection.js";
import {
  type ExposeHttpRequest,
  type ExposedPort,
  type SandboxInfo,
  ServerError,
  allowNetSchema,
  errorFromWire,
  exposeHttpSchema,
  parseOrThrow,
} from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";

export function setAllowNet(http: HttpClient, id: string, allowNet: readonly string[] | null): Promise<SandboxInfo> {
  if (allowNet !== null) parseOrThrow(allowNetSchema, allowNet, "allowNet");
  return http.request<SandboxInfo>("POST", `/v1/sandboxes/${seg(id)}/allow-net`, { body: { allowNet } });
}

export function exposeHttp(http: HttpClient, id: string, request: ExposeHttpRequest): Promise<ExposedPort> {
  parseOrThrow(exposeHttpSchema, request, "exposeHttp options");
  return http.request<ExposedPort>("POST", `/v1/sandboxes/${seg(id)}/expose`, { body: request });
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** `fetch(input, init)` performed by the daemon from inside sandbox `id`'s network. */
export async function sandboxFetch(http: HttpClient, id: string, input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const request = new Request(input, init);
  const { url, token } = await http.connection();
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const hasBody = request.body !== null && request.method !== "GET" && request.method !== "HEAD";
  let response: Response;
  try {
    response = await fetch(`${url}/v1/sandboxes/${seg(id)}/fetch`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "x-atoll-url": request.url,
        "x-atoll-method": request.method,
        "x-atoll-headers": JSON.stringify(headers),
      },
      body: hasBody ? request.body : null,
      signal: init.signal ?? null,
      ...(hasBody ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw unreachableError(url, e);
  }
  if (response.headers.get("x-atoll-fetch") !== "1") {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ServerError("INTERNAL", `The daemon answered sandbox.fetch with HTTP ${response.status} and no Atoll error body`);
    }
    throw errorFromWire(body, response.status);
  }
  const out = new Headers(response.headers);
  out.delete("x-atoll-fetch");
  return new Response(NULL_BODY_STATUS.has(response.status) ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: out,
  });
}
