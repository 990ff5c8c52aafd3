import { timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { AuthenticationError } from "atoll/contract";

/** Who made a request. One token, one tenant, until tenants arrive (issue 7). */
export interface Principal {
  tenant: string;
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

/** Checks a request's token in constant time; throws UNAUTHORIZED with a hint. */
export function authenticate(headers: IncomingHttpHeaders, expected: string): Principal {
  const given = tokenFromHeaders(headers);
  if (!given) {
    throw new AuthenticationError("UNAUTHORIZED", "Missing API token: send `Authorization: Bearer <token>` (the daemon wrote it to <state-dir>/token).");
  }
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new AuthenticationError("UNAUTHORIZED", "Wrong API token: use the one in <state-dir>/token or set ATOLL_TOKEN.");
  }
  return { tenant: "default" };
}
