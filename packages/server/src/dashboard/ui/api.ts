/**
 * Calls to the daemon's /v1 API with the session cookie (same origin; see docs/dashboard.md).
 * Failures are the SDK's own error classes (AtollError and its subclasses), decoded by the
 * SDK's decoder: the same codes and classes as every other client.
 */
import { AuthenticationError, ConnectionError, errorFromWire } from "./errors.js";

/** Sends a request; resolves with the JSON body, or throws an AtollError. A lost session goes to /login. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ConnectionError(`The daemon did not answer (${(err as Error).message}). Is it running?`, undefined, { cause: err });
  }
  const data = (await res.json().catch(() => ({}))) as unknown;
  if (res.status === 401) {
    window.location.assign("/login");
    throw new AuthenticationError("UNAUTHORIZED", "Your session ended; log in again.");
  }
  if (!res.ok) throw errorFromWire(data, res.status);
  return data as T;
}

/** Encodes one path segment. */
export const seg = (s: string): string => encodeURIComponent(s);
