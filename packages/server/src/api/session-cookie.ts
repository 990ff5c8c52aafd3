import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Principal } from "../core/token-service.js";

/** Name of the dashboard's session cookie. */
export const SESSION_COOKIE = "atoll_session";
/** A dashboard login lasts this long (then the login page asks for the token again). */
export const SESSION_TTL_MS = 12 * 3_600_000;

/**
 * Server-side records of dashboard logins: a cookie works only while its record exists, so
 * "Log out" (and revoking the token) ends it for every copy of the cookie. Keyed by the SHA-256
 * of the cookie's nonce: the store alone cannot make a cookie.
 */
export interface SessionRecords {
  add(id: string, tokenId: string, expiresAtMs: number): void;
  /** Whether the record exists and has not expired. */
  has(id: string, nowMs: number): boolean;
  remove(id: string): void;
  removeForToken(tokenId: string): void;
}

/** Records in memory (unit tests; a daemon uses the store's DashboardSessionRepo). */
export class MemorySessionRecords implements SessionRecords {
  private readonly rows = new Map<string, { tokenId: string; expiresAtMs: number }>();
  add(id: string, tokenId: string, expiresAtMs: number): void {
    this.rows.set(id, { tokenId, expiresAtMs });
  }
  has(id: string, nowMs: number): boolean {
    return (this.rows.get(id)?.expiresAtMs ?? 0) > nowMs;
  }
  remove(id: string): void {
    this.rows.delete(id);
  }
  removeForToken(tokenId: string): void {
    for (const [id, r] of this.rows) if (r.tokenId === tokenId) this.rows.delete(id);
  }
}

/** A verified session: who, and which login (the id under which the server keeps it). */
export type Session = Principal & { sessionId: string };

/**
 * Dashboard sessions: signed cookies backed by a server-side record. The value is never the
 * API token: it is `v2.<principal JSON, base64url>.<issuedAtMs>.<nonce>.<hmac>`, the HMAC keyed
 * with a key derived from the token, so a cookie cannot be turned back into the token, expires
 * on its own, and every session ends when the token changes. The record (SHA-256 of the nonce)
 * makes logging out final: `end()` removes it and the same value is refused from then on.
 * Records live in the store, so sessions survive a daemon restart.
 *
 * @example
 *   const sessions = new SessionCookies(token);
 *   const value = sessions.issue({ tenant: "default", admin: true, tokenId: "bootstrap" });
 *   sessions.verify(value); // { tenant: "default", admin: true, tokenId: "bootstrap", sessionId: "…" }
 *   sessions.end(value);    // logged out: verify(value) is undefined from now on
 */
export class SessionCookies {
  private readonly key: Buffer;

  constructor(
    token: string,
    private readonly ttlMs = SESSION_TTL_MS,
    private readonly records: SessionRecords = new MemorySessionRecords(),
  ) {
    this.key = createHash("sha256").update("atoll dashboard session\0").update(token).digest();
  }

  issue(principal: Principal, now = Date.now()): string {
    const who = Buffer.from(JSON.stringify({ t: principal.tenant, a: principal.admin, k: principal.tokenId })).toString("base64url");
    const nonce = randomBytes(16).toString("base64url");
    const body = `v2.${who}.${now}.${nonce}`;
    this.records.add(sessionIdOf(nonce), principal.tokenId, now + this.ttlMs);
    return `${body}.${this.mac(body)}`;
  }

  /** The session, or undefined when the value is forged, malformed, expired or logged out. */
  verify(value: string, now = Date.now()): Session | undefined {
    const signed = this.signed(value, now);
    if (!signed || !this.records.has(signed.sessionId, now)) return undefined;
    return signed;
  }

  /** Logs a session out for good (every copy of the cookie); returns its id, if it was one. */
  end(value: string, now = Date.now()): string | undefined {
    const signed = this.signed(value, now);
    if (!signed) return undefined;
    this.records.remove(signed.sessionId);
    return signed.sessionId;
  }

  /** Every session opened with the token ends (it was revoked). */
  endForToken(tokenId: string): void {
    this.records.removeForToken(tokenId);
  }

  /** Max-Age of the cookie, in seconds. */
  get maxAgeSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /** The session a value claims, when its signature and age are right (record not checked). */
  private signed(value: string, now: number): Session | undefined {
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
      return { tenant: who.t, admin: who.a, tokenId: who.k, sessionId: sessionIdOf(parts[3]!) };
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}

const sessionIdOf = (nonce: string) => createHash("sha256").update(nonce).digest("hex");

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
  return [`${SESSION_COOKIE}=${value}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${opts.maxAgeSeconds}`, ...(opts.secure ? ["Secure"] : [])].join(
    "; ",
  );
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
