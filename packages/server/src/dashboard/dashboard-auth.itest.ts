/**
 * Dashboard access in a real browser (Debian's Chromium via playwright-core): the login page,
 * refusals without or with a wrong token, the session cookie's properties, logout, and the CSRF
 * rules for cookie-authenticated requests (docs/dashboard.md).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { WebSocket } from "ws";
import { SESSION_COOKIE, SessionCookies } from "../api/session-cookie.js";
import { Client } from "atoll";
import { expectCode } from "../e2e/e2e-helpers.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { LAPTOP, PHONE, eventually, launchBrowser, login, newContext, screenshot } from "./browser-harness.js";

// One daemon and one browser for the file, started one after the other in a single hook.
const ctx = {} as { daemon: TestDaemon; client: Client };
let browser: Browser;
before(async () => {
  ctx.daemon = await startTestDaemon();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await ctx.daemon?.dispose();
});

/** A session cookie issued through the real login form. */
async function loggedInCookie(): Promise<string> {
  const context = await newContext(browser);
  try {
    await login(await context.newPage(), ctx.daemon.url, ctx.daemon.token);
    const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
    assert.ok(cookie);
    return cookie.value;
  } finally {
    await context.close();
  }
}

test("without the token, or with a wrong one, the page and the API refuse", async () => {
  const url = ctx.daemon.url;
  const root = await fetch(`${url}/`, { redirect: "manual" });
  assert.equal(root.status, 303);
  assert.equal(root.headers.get("location"), "/login");
  for (const path of ["/v1/volumes", "/ui/events", "/v1/sandboxes"]) {
    assert.equal((await fetch(`${url}${path}`)).status, 401, path);
    assert.equal((await fetch(`${url}${path}`, { headers: { authorization: "Bearer nope" } })).status, 401, path);
    assert.equal(
      (await fetch(`${url}${path}`, { headers: { cookie: `${SESSION_COOKIE}=${ctx.daemon.token}` } })).status,
      401,
      `${path}: the token is not a cookie`,
    );
  }

  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${url}/`);
  assert.equal(new URL(page.url()).pathname, "/login", "the dashboard sends strangers to the login page");
  assert.equal(await page.locator("[data-testid=volumes-table]").count(), 0);
  await screenshot(page, "login-laptop");

  await page.fill("#token", "not-the-token");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"),
    page.click("button[type=submit]"),
  ]);
  assert.equal(response.status(), 401);
  assert.match(await page.locator(".error").innerText(), /not right/);
  assert.deepEqual(await context.cookies(), [], "no cookie for a wrong token");
  await page.goto(`${url}/`);
  assert.equal(new URL(page.url()).pathname, "/login");

  const phone = await newContext(browser, PHONE);
  const phonePage = await phone.newPage();
  await phonePage.goto(`${url}/login`);
  await screenshot(phonePage, "login-phone");
  await phone.close();
  await context.close();
});

test("the right token logs in; the cookie is httpOnly, SameSite=Strict and not the token; logout ends it", async () => {
  const context = await newContext(browser, LAPTOP);
  const page = await context.newPage();
  await login(page, ctx.daemon.url, ctx.daemon.token);
  await page.locator("[data-page=volumes] h1").waitFor();
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  const [c] = cookies;
  assert.equal(c!.name, SESSION_COOKIE);
  assert.equal(c!.httpOnly, true);
  assert.equal(c!.sameSite, "Strict");
  assert.equal(c!.secure, false, "plain http here; Secure is set behind https");
  assert.ok(!c!.value.includes(ctx.daemon.token));
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read it");
  assert.equal(await page.evaluate(async () => (await fetch("/v1/volumes")).status), 200, "the page's own API calls work with the cookie");
  assert.equal(
    await page.evaluate(
      async () =>
        (
          await fetch("/v1/volumes", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ name: "from-page", sizeGb: 0.0625 }),
          })
        ).status,
    ),
    201,
    "same-origin changes work",
  );
  await ctx.client.deleteVolume("from-page");

  await Promise.all([page.waitForURL(`${ctx.daemon.url}/login`), page.click(".logout button")]);
  assert.deepEqual(await context.cookies(), []);
  await page.goto(`${ctx.daemon.url}/`);
  assert.equal(new URL(page.url()).pathname, "/login");
  await context.close();
});

test("CSRF: changes with the cookie must come from the dashboard's origin; forged, expired and WebSocket uses fail", async () => {
  const url = ctx.daemon.url;
  const value = await loggedInCookie();
  const cookie = `${SESSION_COOKIE}=${value}`;
  const post = (headers: Record<string, string>) =>
    fetch(`${url}/v1/volumes`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", ...headers },
      body: JSON.stringify({ name: "csrf", sizeGb: 0.0625 }),
    });

  assert.equal((await fetch(`${url}/v1/volumes`, { headers: { cookie } })).status, 200, "reads work");
  const noOrigin = await post({});
  assert.equal(noOrigin.status, 403);
  assert.equal(((await noOrigin.json()) as { error: { code: string } }).error.code, "FORBIDDEN");
  assert.equal((await post({ origin: "http://evil.example" })).status, 403);
  assert.equal((await post({ origin: url, "sec-fetch-site": "same-site" })).status, 403);
  await expectCode(ctx.client.getVolume("csrf"), "VOLUME_NOT_FOUND");
  assert.equal((await post({ origin: url })).status, 201, "from the dashboard's own origin");
  await ctx.client.deleteVolume("csrf");

  const forged = `${value.slice(0, -2)}${value.endsWith("A") ? "B" : "A"}A`;
  assert.equal((await fetch(`${url}/v1/volumes`, { headers: { cookie: `${SESSION_COOKIE}=${forged}` } })).status, 401);
  const otherKey = new SessionCookies("some-other-token").issue({ tenant: "default", admin: true, tokenId: "bootstrap" });
  assert.equal((await fetch(`${url}/v1/volumes`, { headers: { cookie: `${SESSION_COOKIE}=${otherKey}` } })).status, 401);
  const expired = new SessionCookies(ctx.daemon.token).issue({ tenant: "default", admin: true, tokenId: "bootstrap" }, Date.now() - 13 * 3_600_000);
  assert.equal((await fetch(`${url}/v1/volumes`, { headers: { cookie: `${SESSION_COOKIE}=${expired}` } })).status, 401);

  const sb = await ctx.client.createSandbox({ timeout: "2m" });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${url.replace("http", "ws")}/v1/sandboxes/${sb.id}/session`, { headers: { cookie, origin: url } });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => {
        ws.close();
        reject(new Error("a WebSocket session opened with the cookie alone"));
      });
      ws.on("error", () => undefined);
    });
    assert.equal(status, 401);
  } finally {
    await sb.kill();
  }
});

/** How many requests to /v1/volumes the daemon refused with FORBIDDEN so far (debug log). */
function forbiddenLogLines(): number {
  return ctx.daemon.logs.filter((l) => l.includes('"FORBIDDEN"') && l.includes('"/v1/volumes"')).length;
}

test("a page of another origin on this host cannot use a logged-in browser's cookie", async () => {
  // Another port on the same host is the same *site*, so SameSite alone would let the cookie through.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><body><script>
      fetch(${JSON.stringify(ctx.daemon.url)} + "/v1/volumes", { method: "POST", mode: "no-cors", credentials: "include",
        headers: { "content-type": "text/plain" }, body: JSON.stringify({ name: "stolen", sizeGb: 0.0625 }) })
        .finally(() => { document.title = "sent"; });
    </script></body>`);
  });
  await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
  const context = await newContext(browser);
  try {
    const page = await context.newPage();
    await login(page, ctx.daemon.url, ctx.daemon.token);
    const refusedBefore = forbiddenLogLines();
    await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    await eventually("the cross-origin request", async () => (await page.title()) === "sent");
    await expectCode(ctx.client.getVolume("stolen"), "VOLUME_NOT_FOUND");
    // It arrived with a valid cookie (else UNAUTHORIZED) and the Origin check refused it.
    await eventually("the daemon's FORBIDDEN log line", async () => forbiddenLogLines() > refusedBefore);
  } finally {
    await context.close();
    evil.close();
  }
});
