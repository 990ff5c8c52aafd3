/**
 * What an exposed sandbox port receives of a caller's request head (docs/network.md,
 * "What the sandbox receives"). The app's own headers and cookies pass; credentials of the
 * daemon never do: cookies named `atoll_*` (the dashboard's session, the exposure gate),
 * `Authorization` that carries an Atoll API token, and `atoll.token.*` WebSocket subprotocols.
 * Hop-by-hop headers (Proxy-Authorization among them) are the proxy's own.
 */
import { endToEnd } from "../http/forward-headers.js";

/** Cookie names the daemon sets (`atoll_session`, `atoll_expose`): never sent to a sandbox. */
const DAEMON_COOKIE = /^atoll_/i;
const PROTOCOL_PREFIX = "atoll.token.";

/** Drops the daemon's cookies from a Cookie header; undefined when nothing is left. */
export function withoutDaemonCookies(value: string): string | undefined {
  const kept = value
    .split(";")
    .map((p) => p.trim())
    .filter((p) => p !== "" && !DAEMON_COOKIE.test(p.includes("=") ? p.slice(0, p.indexOf("=")).trim() : p));
  return kept.length > 0 ? kept.join("; ") : undefined;
}

/** The credential of an Authorization value (`Bearer x`, `Basic base64(user:pass)`, `Token x`). */
function credentialsIn(value: string): string[] {
  const [scheme, rest = ""] = value.trim().split(/\s+/, 2) as [string, string?];
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(rest, "base64").toString("latin1");
    const colon = decoded.indexOf(":");
    return colon < 0 ? [decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  }
  return [rest || scheme];
}

/**
 * Request headers to send to the sandbox, as a flat [name, value, …] list.
 *
 * @param rawHeaders the caller's `req.rawHeaders`
 * @param isAtollToken recognises a value the daemon would accept as an API token
 * @param upgrade keep `Connection`/`Upgrade` (a WebSocket upgrade is relayed as is)
 * @example forwardedHeaders(req.rawHeaders, (v) => tokens.recognizes(v), false)
 */
export function forwardedHeaders(rawHeaders: readonly string[], isAtollToken: (value: string) => boolean, upgrade: boolean): string[] {
  // Hop-by-hop headers (Proxy-Authorization among them) are never the app's; transfer-encoding
  // stays: the body is relayed with the caller's own framing.
  return endToEnd(rawHeaders, upgrade ? "upgrade" : "body", (lower, value) => {
    if (lower === "cookie") return withoutDaemonCookies(value);
    if (lower === "authorization") return credentialsIn(value).some((c) => c !== "" && isAtollToken(c)) ? undefined : value;
    if (lower === "sec-websocket-protocol") {
      const kept = value
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== "" && !p.startsWith(PROTOCOL_PREFIX));
      return kept.length > 0 ? kept.join(", ") : undefined;
    }
    return value;
  });
}
