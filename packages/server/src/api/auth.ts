import type { IncomingHttpHeaders } from "node:http";
import { AuthenticationError } from "atoll/contract";
import type { Principal } from "../core/token-service.js";
import { SESSION_COOKIE, type SessionCookies, cookieOf, isSameOrigin } from "./session-cookie.js";

export type { Principal };

/** Turns token values into principals (the TokenService; a stub in unit tests). */
export interface TokenVerifier {
  /** The principal of a token value, or undefined when it is unknown or revoked. */
  verify(token: string): Principal | undefined;
  /** Whether the token a dashboard session was opened with is still valid. */
  isLive(tokenId: string): boolean;
}

const PROTOCOL_PREFIX = "atoll.token.";

/** The bearer token of a request: `Authorization: Bearer …` or the WebSocket subprotocol `atoll.token.…`. */
export function tokenFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  const protocols = headers["sec-websocket-protocol"];
  if (typeof protocols === "string") {
    for (const p of protocols.split(",")) {
      const t = p.trim();
      if (t.startsWith(PROTOCOL_PREFIX)) return t.slice(PROTOCOL_PREFIX.length);
    }
  }
  return undefined;
}

/** Checks a request's token; throws UNAUTHORIZED with a hint. */
export function authenticate(headers: IncomingHttpHeaders, tokens: TokenVerifier): Principal {
  const given = tokenFromHeaders(headers);
  if (!given) {
    throw new AuthenticationError("UNAUTHORIZED", "Missing API token: send `Authorization: Bearer <token>` (the daemon wrote it to <state-dir>/token).");
  }
  const principal = tokens.verify(given);
  if (!principal) {
    throw new AuthenticationError(
      "UNAUTHORIZED",
      "Wrong or revoked API token: use the one in <state-dir>/token, one an admin created for you, or set ATOLL_TOKEN.",
    );
  }
  return principal;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Authenticates a request by its bearer token (header or WebSocket subprotocol), or else by the
 * dashboard's session cookie. Cookie requests are held to the dashboard's CSRF rules
 * (docs/dashboard.md): never for a WebSocket upgrade, and a request that changes something
 * (POST, PUT, PATCH, DELETE) must come from a page of this origin (Origin header).
 */
export function authenticateRequest(req: { headers: IncomingHttpHeaders; method: string }, tokens: TokenVerifier, sessions: SessionCookies): Principal {
  const cookie = tokenFromHeaders(req.headers) === undefined ? cookieOf(req.headers, SESSION_COOKIE) : undefined;
  if (cookie === undefined) return authenticate(req.headers, tokens);
  if (typeof req.headers.upgrade === "string") {
    throw new AuthenticationError(
      "UNAUTHORIZED",
      "WebSocket sessions need the API token (Authorization header or the atoll.token.<token> subprotocol); the dashboard cookie is not accepted.",
    );
  }
  const session = sessions.verify(cookie);
  if (!session || !tokens.isLive(session.tokenId))
    throw new AuthenticationError("UNAUTHORIZED", "Dashboard session expired or invalid: log in again at /login.");
  if (!SAFE_METHODS.has(req.method) && !isSameOrigin(req.headers)) {
    throw new AuthenticationError(
      "FORBIDDEN",
      "Cross-origin request refused: changes made with the dashboard cookie must come from the dashboard's own pages. Scripts should send the API token instead.",
    );
  }
  return session;
}
