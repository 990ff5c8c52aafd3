/** Calls to the daemon's /v1 API with the session cookie (same origin; see docs/dashboard.md). */

/** An API error: the daemon's stable code and its message (which says what to do). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Sends a request; resolves with the JSON body, or throws ApiError. A lost session goes to /login. */
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
    throw new ApiError("CONNECTION_FAILED", `The daemon did not answer (${(err as Error).message}). Is it running?`, 0);
  }
  const data = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
  if (res.status === 401) {
    window.location.assign("/login");
    throw new ApiError("UNAUTHORIZED", "Your session ended; log in again.", 401);
  }
  if (!res.ok) throw new ApiError(data.error?.code ?? "INTERNAL", data.error?.message ?? res.statusText, res.status, data.error?.details);
  return data as T;
}

/** Encodes one path segment. */
export const seg = (s: string): string => encodeURIComponent(s);
