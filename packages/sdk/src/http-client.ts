/**
 * JSON over HTTP to the daemon's `/v1` API with global `fetch`. Error bodies become the typed
 * contract errors (`errorFromWire`); network failures become ConnectionError.
 */
import { type ConnectionOptions, type ResolvedConnection, resolveConnection, unreachableError } from "./connection.js";
import { ConnectionError, ServerError, errorFromWire } from "./contract/index.js";
import { retryWithin } from "./retry-within.js";

/** Query string values; arrays repeat the key (`?label=a=1&label=b=2`). */
export type Query = Record<string, string | readonly string[] | boolean | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Fail at once when the daemon refuses connections (the caller retries on its own). */
  once?: boolean;
}

/**
 * A small HTTP client bound to one daemon. The connection (URL + token) is resolved on first use.
 *
 * @example
 *   const http = new HttpClient({ url: "http://127.0.0.1:7420", token });
 *   const { volumes } = await http.request<VolumeList>("GET", "/v1/volumes");
 */
export class HttpClient {
  readonly #options: ConnectionOptions;
  #resolved: Promise<ResolvedConnection> | undefined;
  /** A daemon answered this client once: a refused connection now means it is restarting. */
  #answered = false;

  constructor(options: ConnectionOptions = {}) {
    this.#options = { ...options };
  }

  /** The resolved URL and token (cached once it succeeds). */
  connection(): Promise<ResolvedConnection> {
    if (!this.#resolved) {
      const pending = resolveConnection(this.#options);
      this.#resolved = pending;
      pending.catch(() => {
        if (this.#resolved === pending) this.#resolved = undefined; // retry next time
      });
    }
    return this.#resolved;
  }

  /** Sends one request and parses the JSON answer; throws the daemon's error as an AtollError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { url, token } = await this.connection();
    const target = url + path + queryString(options.query);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const init = { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) };
    const response = await this.#fetchRidingRestarts(url, target, init, options.once ? 0 : RESTART_WINDOW_MS);
    const text = await response.text().catch((e: unknown) => {
      throw unreachableError(url, e);
    });
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new ServerError("INTERNAL", `The daemon answered ${method} ${path} with a body that is not JSON`);
        }
      }
    }
    if (!response.ok) throw errorFromWire(body, response.status);
    return body as T;
  }

  /**
   * fetch, and when a daemon that answered this client before refuses connections (it is
   * restarting: sandboxes outlive it), again with growing pauses for up to RESTART_WINDOW_MS. A
   * daemon never reached fails at once: the common mistake is a daemon that is not running.
   */
  async #fetchRidingRestarts(url: string, target: string, init: RequestInit, windowMs: number): Promise<Response> {
    const response = await retryWithin(
      windowMs,
      () => fetch(target, init),
      (e) => (this.#answered && connectionRefused(e) ? "retry" : unreachableError(url, e)),
    ).catch((e: unknown) => {
      throw e instanceof ConnectionError ? e : unreachableError(url, e);
    });
    this.#answered = true;
    return response;
  }
}

/** How long requests keep trying a daemon that answered before and now refuses connections (a restart). */
const RESTART_WINDOW_MS = 60_000;

/** The request never reached a daemon: safe to send again whatever its method. */
function connectionRefused(e: unknown): boolean {
  const c = e as { cause?: { code?: string }; code?: string } | undefined;
  return (c?.cause?.code ?? c?.code) === "ECONNREFUSED";
}

function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (typeof value === "string" || typeof value === "boolean") params.append(key, String(value));
    else for (const v of value) params.append(key, v);
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** Encodes one path segment (ids and names are safe already; this guards against odd input). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
