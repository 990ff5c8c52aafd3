import { AuthenticationError } from "atoll/contract";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { type TokenVerifier, authenticate, authenticateRequest, type Principal } from "../api/auth.js";
import type { Services } from "../api/services.js";
import type { HttpFront } from "../api/http-server.js";
import type { LiveCredentials } from "../api/live-credentials.js";
import { SESSION_COOKIE, type SessionCookies, cookieOf, isHttps, isSameOrigin, sessionCookieHeader } from "../api/session-cookie.js";
import { EventStream } from "./event-stream.js";
import { OverviewBuilder } from "./overview-builder.js";
import { HTML_HEADERS, appPage, loginPage } from "./pages.js";
import { daemonFooter } from "./daemon-footer.js";
import { readAsset } from "./static-assets.js";

export interface DashboardOptions {
  services: Services;
  tokens: TokenVerifier;
  sessions: SessionCookies;
  /** Open streams per login: logging out ends them. */
  live: LiveCredentials;
  /** Unattached for longer than this → "stale". */
  staleAfterMs: number;
  version: string;
  logger: Logger;
}

/**
 * The dashboard as a front of the API's server (api/http-server.ts): composed in daemon.ts, so
 * the API never imports the dashboard.
 *
 * @example buildHttpServer({ …, fronts: [dashboardFront({ services, tokens, staleAfterMs, version, logger })] })
 */
export function dashboardFront(opts: Omit<DashboardOptions, "sessions" | "live">): HttpFront {
  return {
    isPublicPath: isDashboardPublicPath,
    register: (app, ctx) => registerDashboard(app, { ...opts, ...ctx }),
  };
}

/** Paths the auth hook lets through: these pages and assets decide about access themselves. */
export function isDashboardPublicPath(path: string): boolean {
  return path === "/" || path === "/login" || path === "/logout" || path.startsWith("/ui/assets/");
}

const secureOf = (req: FastifyRequest) => isHttps(req.headers, req.protocol === "https");

function principalOrUndefined(req: FastifyRequest, opts: DashboardOptions): Principal | undefined {
  try {
    return authenticateRequest(req, opts.tokens, opts.sessions);
  } catch {
    return undefined;
  }
}

/**
 * The dashboard (docs/dashboard.md): `/` (the page), `/login` and `/logout`, `/ui/assets/*`
 * (browser code and styles, all from this daemon), `/ui/events` (server-sent events). The page
 * acts through the /v1 API with the session cookie.
 */
export async function registerDashboard(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const builder = new OverviewBuilder(opts.services, opts.staleAfterMs);
  const stream = new EventStream(builder, opts.logger);
  opts.services.commandLog.onChange(() => stream.poke());
  opts.services.usage.onSample(() => stream.samplesStored());
  app.addHook("preClose", async () => stream.close());
  // Any change made through the API (by the page, the SDK or the CLI) reaches open pages at once.
  app.addHook("onResponse", async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD" && req.url.startsWith("/v1/")) {
      builder.snapshots.invalidate();
      stream.poke();
    }
  });

  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).headers(HTML_HEADERS).send(body);

  app.get("/", async (req, reply) => {
    if (!principalOrUndefined(req, opts)) return reply.redirect("/login", 303);
    return html(reply, 200, appPage(opts.version, daemonFooter(opts.services.daemon.info())));
  });

  app.get("/login", async (req, reply) => {
    if (principalOrUndefined(req, opts)) return reply.redirect("/", 303);
    return html(reply, 200, loginPage());
  });

  await app.register(async (scope) => {
    // Only here: the login form posts application/x-www-form-urlencoded; /v1 stays JSON-only.
    scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    // A login form holds one token: nothing bigger is read.
    scope.post("/login", { bodyLimit: 4096 }, async (req, reply) => {
      // Login CSRF: a page of another origin must not log this browser in with its own token.
      if (req.headers.origin !== undefined && !isSameOrigin(req.headers)) {
        return html(reply, 403, loginPage("This login form must be sent from the dashboard's own page."));
      }
      const given = (req.body as { token?: unknown } | undefined)?.token;
      let principal: Principal;
      try {
        if (typeof given !== "string" || given.trim() === "") throw new AuthenticationError("UNAUTHORIZED", "missing");
        principal = authenticate({ authorization: `Bearer ${given.trim()}` }, opts.tokens);
      } catch {
        return html(reply, 401, loginPage(typeof given === "string" && given.trim() !== "" ? "That token is not right." : "Enter the API token."));
      }
      req.principal = principal; // who logged in, for the audit trail (api/audit-hook.ts)
      const cookie = sessionCookieHeader(opts.sessions.issue(principal), { secure: secureOf(req), maxAgeSeconds: opts.sessions.maxAgeSeconds });
      return reply.header("set-cookie", cookie).header("cache-control", "no-store").redirect("/", 303);
    });
    scope.post("/logout", async (req, reply) => {
      if (!isSameOrigin(req.headers)) return html(reply, 403, loginPage("Log out from the dashboard's own page."));
      // The server forgets the session: every copy of the cookie stops working, its streams end.
      const cookie = cookieOf(req.headers, SESSION_COOKIE);
      const sessionId = cookie === undefined ? undefined : opts.sessions.end(cookie);
      if (sessionId !== undefined) opts.live.endSession(sessionId);
      return reply.header("set-cookie", sessionCookieHeader("", { secure: secureOf(req), maxAgeSeconds: 0 })).redirect("/login", 303);
    });
  });

  app.get<{ Params: { file: string } }>("/ui/assets/:file", async (req, reply) => {
    const asset = await readAsset(req.params.file);
    return reply.headers({ "content-type": asset.type, "cache-control": "no-cache", "x-content-type-options": "nosniff" }).send(asset.body);
  });

  // Authenticated by the global hook (cookie or token).
  app.get<{ Querystring: { sandbox?: string } }>("/ui/events", (req, reply) => {
    const focus = typeof req.query.sandbox === "string" && req.query.sandbox !== "" ? req.query.sandbox : undefined;
    reply.hijack();
    stream.open(reply.raw, req.principal.tenant, focus);
  });
}
