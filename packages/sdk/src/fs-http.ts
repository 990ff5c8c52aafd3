/**
 * Streaming requests of the file API: raw byte and tar bodies in both directions, NDJSON
 * listings. Only `fetch` and web streams, so it runs on Node, Deno and Bun.
 */
import { unreachableError } from "./connection.js";
import { errorFromWire } from "./contract/index.js";
import type { HttpClient } from "./http-client.js";

export interface FsRequest {
  query?: Record<string, string | undefined>;
  /** JSON body. */
  json?: unknown;
  /** Raw body (bytes or a stream) and its content type. */
  body?: Uint8Array | ReadableStream<Uint8Array>;
  contentType?: string;
  signal?: AbortSignal | undefined;
}

/** Sends a request and returns the response once it is 2xx; otherwise throws the typed error. */
export async function fsFetch(http: HttpClient, method: string, path: string, req: FsRequest = {}): Promise<Response> {
  const { url, token } = await http.connection();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) params.append(k, v);
  const qs = params.toString();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let body: BodyInit | undefined;
  if (req.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(req.json);
  } else if (req.body !== undefined) {
    headers["content-type"] = req.contentType ?? "application/octet-stream";
    body = req.body as BodyInit;
  }
  let res: Response;
  try {
    res = await fetch(`${url}${path}${qs ? `?${qs}` : ""}`, {
      method,
      headers,
      body,
      signal: req.signal,
      // Required for stream bodies by the fetch spec (Node, Deno); harmless elsewhere.
      ...(req.body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch (e) {
    if ((e as { name?: string }).name === "AbortError") throw e;
    throw unreachableError(url, e);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    throw errorFromWire(parsed, res.status);
  }
  return res;
}

/** JSON body of a 2xx response. */
export async function fsJson<T>(http: HttpClient, method: string, path: string, req: FsRequest = {}): Promise<T> {
  const res = await fsFetch(http, method, path, req);
  return (await res.json()) as T;
}

/** Lines of an NDJSON response as objects; a `{"error":…}` line throws that error. */
export async function* ndjsonLines<T>(res: Response): AsyncGenerator<T> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let pending = "";
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (value) pending += decoder.decode(value, { stream: true });
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        const obj = JSON.parse(line) as { error?: unknown };
        if (obj && typeof obj === "object" && "error" in obj) throw errorFromWire(obj, 500);
        yield obj as T;
      }
      if (done) break;
    }
  } finally {
    reader.releaseLock();
    await res.body.cancel().catch(() => undefined);
  }
}
