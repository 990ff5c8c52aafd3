/**
 * Test helpers for the dashboard's browser tests: Debian's Chromium (`/usr/bin/chromium`, from
 * `scripts/setup.sh --test`) driven by playwright-core, headless, with a fresh profile and
 * nothing that talks to the network by itself. Never downloads a browser.
 */
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, type Page, chromium } from "playwright-core";

export const CHROMIUM = process.env.ATOLL_CHROMIUM ?? "/usr/bin/chromium";
/** `<repo>/test-results/dashboard/` (gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL("../../../../test-results/dashboard/", import.meta.url));

export const LAPTOP = { width: 1366, height: 860 };
export const PHONE = { width: 390, height: 844 };

/** Starts Chromium; `launch` gives every browser a fresh temporary profile. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --test\` (installs Debian's chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new browser context (own cookies) of the given viewport; phones get touch and a 2× screen. */
export async function newContext(browser: Browser, viewport = LAPTOP): Promise<BrowserContext> {
  const phone = viewport.width < 600;
  return browser.newContext({ viewport, deviceScaleFactor: phone ? 2 : 1, isMobile: phone, hasTouch: phone, locale: "en-GB", timezoneId: "UTC" });
}

/** Logs a page in through the login form. */
export async function login(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${baseUrl}/`), page.click("button[type=submit]")]);
  await page.locator("#live.on").waitFor();
}

/** Saves a full-page PNG under test-results/dashboard/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = `${SCREENSHOT_DIR}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Polls `fn` until it returns something other than undefined/false (default 30 s). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
