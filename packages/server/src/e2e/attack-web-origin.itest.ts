/**
 * Attack suite, exposed pages in a real browser (issue 10 item 2; Debian's Chromium through
 * dashboard/browser-harness.ts): a tenant's preview page opened by a logged-in operator cannot
 * use the dashboard session (it tries to mint an admin token and to read the API), and one
 * exposed page cannot set cookies for another exposed app or for the dashboard.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, type Sandbox } from "atoll";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { eventually, launchBrowser, login, newContext } from "../dashboard/browser-harness.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { startHostileServer } from "./web-attack-helpers.js";

const ctx = {} as { daemon: TestDaemon; client: Client; tenant: Client; browser: Browser };
const sandboxes: Sandbox[] = [];
before(async () => {
  ctx.daemon = await startTestDaemon();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  const { token } = await ctx.client.admin.createToken({ tenant: "tenant-evil", name: "evil" });
  ctx.tenant = new Client({ url: ctx.daemon.url, token });
  ctx.browser = await launchBrowser();
});
after(async () => {
  await ctx.browser?.close();
  for (const sb of sandboxes) await sb.kill().catch(() => undefined);
  await ctx.daemon?.dispose();
});

/** What the hostile page tries against the API, with the browser's cookies of the dashboard. */
const STEAL = `
async function steal(api) {
  const out = {};
  const body = (name) => JSON.stringify({ tenant: "default", admin: true, name });
  try {
    const r = await fetch(api + "/v1/tokens", { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: body("stolen-cors") });
    out.mint = String(r.status);
  } catch (e) { out.mint = "blocked by the browser"; }
  try {
    await fetch(api + "/v1/tokens", { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain" }, body: body("stolen-no-cors") });
    out.blind = "sent";
  } catch (e) { out.blind = "blocked by the browser"; }
  try {
    const r = await fetch(api + "/v1/tokens", { credentials: "include" });
    out.read = String(r.status);
  } catch (e) { out.read = "blocked by the browser"; }
  return out;
}`;

/** A sandbox of the hostile tenant serving `files` on port 8000; its exposed URL. */
async function hostilePage(files: Record<string, string>): Promise<string> {
  const sb = await ctx.tenant.createSandbox({ timeout: "10m", allowNet: [] });
  sandboxes.push(sb);
  await startHostileServer(sb, 8000, files);
  return sb.exposeHttp({ port: 8000 });
}

async function loggedInOperator(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(ctx.browser);
  const page = await context.newPage();
  await login(page, ctx.daemon.url, ctx.daemon.token);
  return { context, page };
}

test("a tenant's preview page opened by a logged-in operator cannot use the dashboard session", async () => {
  const url = await hostilePage({
    "preview.html": `<!doctype html><title>loading</title><script>${STEAL}
    steal(new URLSearchParams(location.search).get("api")).then((out) => { document.title = "done:" + JSON.stringify(out); });</script>`,
  });
  const { context, page } = await loggedInOperator();
  try {
    const logFrom = ctx.daemon.logs.length;
    await page.goto(`${url}preview.html?api=${encodeURIComponent(ctx.daemon.url)}`);
    const title = await eventually("the page's attempts", async () => ((await page.title()).startsWith("done:") ? page.title() : undefined));
    const seen = JSON.parse(title.slice(5)) as { mint: string; blind: string; read: string };
    // The blind request reached the daemon: without the session cookie (UNAUTHORIZED), or with
    // it and refused by the Origin check (FORBIDDEN). Either way nothing was made.
    const refusal = await eventually("the daemon's refusal of the blind request", async () => {
      const line = ctx.daemon.logs.slice(logFrom).find((l) => l.includes('"/v1/tokens"') && l.includes("request refused"));
      return line && ((JSON.parse(line) as { code?: string }).code ?? "?");
    });
    const stolen = (await ctx.client.admin.listTokens()).filter((t) => t.name.startsWith("stolen"));
    // Proof the probe works where it would have run before: on the dashboard's own origin (the
    // old /expose/<token>/ path form) the same script mints an admin token.
    await page.goto(`${ctx.daemon.url}/`);
    const control = await page.evaluate(`(${STEAL.replace("async function steal", "async function")})(location.origin)`);
    const minted = (await ctx.client.admin.listTokens()).filter((t) => t.name === "stolen-cors" && t.revokedAt === null);
    for (const t of minted) await ctx.client.admin.revokeToken(t.id);
    const rows: AttackRow[] = [
      {
        area: "web",
        attack: "preview page mints an admin token with the operator's session",
        as: "page",
        expected: "no token (401/refused)",
        observed: `cors: ${seen.mint}; no-cors: ${seen.blind}, refused ${refusal}; tokens made: ${stolen.length}`,
        held: stolen.length === 0 && seen.mint !== "201" && (refusal === "UNAUTHORIZED" || refusal === "FORBIDDEN"),
      },
      {
        area: "web",
        attack: "preview page reads the API with the operator's session",
        as: "page",
        expected: "refused",
        observed: seen.read,
        held: seen.read !== "200",
      },
      {
        area: "web",
        attack: "control: the same script on the dashboard's origin",
        as: "page",
        expected: "201 (admin token minted)",
        observed: JSON.stringify(control),
        held: (control as { mint: string }).mint === "201" && minted.length === 1,
      },
    ];
    reportAttacks("Web: preview page vs the operator's session", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    await context.close();
  }
});

test("one exposed page cannot set cookies for another exposed app or for the dashboard", async () => {
  const toss = `<!doctype html><title>loading</title><script>
    const p = new URLSearchParams(location.search);
    document.cookie = "tossed_own=1; path=/";
    document.cookie = "tossed_victim=1; path=/; domain=" + p.get("victim");
    document.cookie = "tossed_dashboard=1; path=/; domain=" + p.get("dashboard");
    document.title = "done";</script>`;
  // The victim app uses an absolute path (/abs.js): a browser reaches it through the gate cookie.
  const victimPage = `<!doctype html><title>loading</title><script src="/abs.js"></script>`;
  const evilUrl = await hostilePage({ "toss.html": toss });
  const victimSb = await ctx.client.createSandbox({ timeout: "10m", allowNet: [] });
  sandboxes.push(victimSb);
  await startHostileServer(victimSb, 8000, { "app.html": victimPage, "abs.js": `document.title = "absolute path works";` });
  const victimUrl = await victimSb.exposeHttp({ port: 8000 });
  const { context, page } = await loggedInOperator();
  try {
    const victimHost = new URL(victimUrl).hostname;
    const dashboardHost = new URL(ctx.daemon.url).hostname;
    await page.goto(`${evilUrl}toss.html?victim=${victimHost}&dashboard=${dashboardHost}`);
    await eventually("the page's cookies", async () => (await page.title()) === "done");
    const cookiesAt = async (url: string) => {
      await page.goto(`${url}echo`);
      const echo = JSON.parse((await page.locator("body").innerText()).trim()) as { headers: [string, string][] };
      return echo.headers.find(([k]) => k.toLowerCase() === "cookie")?.[1] ?? "";
    };
    const atVictim = await cookiesAt(victimUrl);
    const atEvil = await cookiesAt(evilUrl);
    const dashboard = (await context.cookies(ctx.daemon.url)).map((c) => c.name);
    await page.goto(`${victimUrl}app.html`);
    const absolute = await eventually("the victim's page", async () => ((await page.title()) !== "loading" ? page.title() : undefined));
    const rows: AttackRow[] = [
      {
        area: "web",
        attack: "exposed page sets a cookie for another tenant's exposed app",
        as: "page",
        expected: "no tossed_* cookie at the victim",
        observed: atVictim === "" ? "(no cookies)" : atVictim,
        held: !atVictim.includes("tossed"),
      },
      {
        area: "web",
        attack: "exposed page sets a cookie for the dashboard",
        as: "page",
        expected: "only atoll_session",
        observed: dashboard.join(", "),
        held: dashboard.every((n) => !n.startsWith("tossed")) && dashboard.includes("atoll_session"),
      },
      {
        area: "web",
        attack: "control: the page's cookie on its own app; absolute paths in the victim's page",
        as: "page",
        expected: "tossed_own=1; absolute path works",
        observed: `${atEvil}; ${absolute}`,
        held: atEvil.includes("tossed_own=1") && absolute === "absolute path works",
      },
    ];
    reportAttacks("Web: cookies across exposed apps", rows);
    assert.deepEqual(broken(rows), []);
  } finally {
    await context.close();
  }
});
