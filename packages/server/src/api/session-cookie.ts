import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Principal } from "../core/token-service.js";

/** Name of the dashboard's session cookie. */
export const SESSION_COOKIE = "atoll_session";
/** A dashboard login lasts this long (then the login page asks for the token again). */
export const SESSION_TTL_MS = 12 * 3_600_000;

/**
 * Dashboard sessions as signed cookies. The value is never the API token: it is
 * `v2.<principal JSON, base64url>.<issuedAtMs>.<nonce>.<hmac>`, the HMAC keyed with a key derived from the token,
 * so a cookie cannot be turned back into the token, expires on its own, and every session ends
 * when the token changes. Stateless: sessions survive a daemon restart.
 *
 * @example
 *   const sessions = new SessionCookies(token);
 *   const value = sessions.issue({ tenant: "default", admin: true, tokenId: "bootstrap" });
 *   sessions.verify(value); // { tenant: "default", admin: true, tokenId: "bootstrap" }
 */
export class SessionCookies {
  private readonly key: Buffer;

  constructor(
    token: string,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {
    this.key = createHash("sha256").update("atoll dashboard session\0").update(token).digest();
  }

  issue(principal: Principal, now = Date.now()): string {
    const who = Buffer.from(JSON.stringify({ t: principal.tenant, a: principal.admin, k: principal.tokenId })).toString("base64url");
    const body = `v2.${who}.${now}.${randomBytes(12).toString("base64url")}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The session's tenant, or undefined when the value is forged, malformed or expired. */
  verify(value: string, now = Date.now()): Principal | undefined {
    const parts = value.split(".");
    if (parts.length !== 5 || parts[0] !== "v2") return undefined;
    const body = parts.slice(0, 4).join(".");
    const given = Buffer.from(parts[4]!);
    const expected = Buffer.from(this.mac(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const issued = Number(parts[2]);
    if (!Number.isSafeInteger(issued) || issued > now + 60_000 || now - issued > this.ttlMs) return undefined;
    try {
      const who = JSON.parse(Buffer.from(parts[1]!, "base64url").toString()) as { t: unknown; a: unknown; k: unknown };
      if (typeof who.t !== "string" || typeof who.a !== "boolean" || typeof who.k !== "string") return undefined;
      return { tenant: who.t, admin: who.a, tokenId: who.k };
    } catch {
      return undefined;
    }
  }

  /** Max-Age of the cookie, in seconds. */
  get maxAgeSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}

/** The value of cookie `name` in a request's Cookie header, if any. */
export function cookieOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const raw = headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}

/**
 * Set-Cookie header for a session: HttpOnly (scripts cannot read it), SameSite=Strict (never
 * sent on requests started by another site), Path=/, Secure when the dashboard is served over
 * https. An empty value with Max-Age=0 clears it.
 */
export function sessionCookieHeader(value: string, opts: { secure: boolean; maxAgeSeconds: number }): string {
  return [`${SESSION_COOKIE}=${value}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${opts.maxAgeSeconds}`, ...(opts.secure ? ["Secure"] : [])].join("; ");
}

/** Whether the request reached us over https (directly, or through a proxy that says so). */
export function isHttps(headers: IncomingHttpHeaders, encrypted: boolean): boolean {
  const fwd = headers["x-forwarded-proto"];
  return encrypted || (typeof fwd === "string" && fwd.split(",")[0]!.trim() === "https");
}

/**
 * Whether a request comes from a page of this very origin: `Origin` must be present and equal
 * `http(s)://<Host>`, and `Sec-Fetch-Site`, when the browser sends it, must be same-origin.
 * Browsers always send Origin on POST, PUT, PATCH and DELETE, so a missing one means "not a
 * page of ours".
 */
export function isSameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  const host = headers.host;
  if (typeof origin !== "string" || typeof host !== "string") return false;
  if (origin !== `http://${host}` && origin !== `https://${host}`) return false;
  const site = headers["sec-fetch-site"];
  return site === undefined || site === "same-origin";
}
