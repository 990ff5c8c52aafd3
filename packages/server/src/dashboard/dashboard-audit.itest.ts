/** The dashboard's audit page in a real browser (Debian's Chromium) against a real daemon. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client } from "atoll";
import type { Browser, Page } from "playwright-core";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { eventually, launchBrowser, login, newContext, screenshot } from "./browser-harness.js";

let daemon: TestDaemon;
let browser: Browser;
let page: Page;
before(async () => {
  daemon = await startTestDaemon();
  browser = await launchBrowser();
  page = await (await newContext(browser)).newPage();
  page.on("pageerror", (err) => console.error("page error:", err.message));
});
after(async () => {
  await browser?.close();
  await daemon?.dispose();
});

test("the audit page lists the calls a tenant's login may see, with their outcome", async () => {
  const admin = new Client({ url: daemon.url, token: daemon.token });
  const { token } = await admin.admin.createToken({ tenant: "ui-audit" });
  const tenant = new Client({ url: daemon.url, token });
  const volume = await tenant.createVolume({ name: "seen", sizeGb: 0.25 });
  await assert.rejects(tenant.deleteVolume("missing"));
  await admin.createVolume({ name: "not-for-the-tenant", sizeGb: 0.25 });

  await login(page, daemon.url, token);
  await page.evaluate(() => (window.location.hash = "#/audit"));
  const rows = page.locator("[data-testid=audit-table] tbody tr");
  // Newest first: the tenant's login, the refused delete, the create; nothing of the admin's.
  await eventually("the audit rows", async () => (await rows.count()) === 3);
  const text = await rows.allInnerTexts();
  assert.match(text[0]!, /login/);
  assert.match(text[1]!, /volume\.delete\s+missing\s+VOLUME_NOT_FOUND/);
  assert.match(text[2]!, new RegExp(`volume\\.create\\s+${volume.id}\\s+ok`));
  assert.ok(!text.join("\n").includes("bootstrap"), "the admin's calls are not shown to the tenant");
  assert.equal(await page.locator("[data-nav=audit]").getAttribute("aria-current"), "page");
  await screenshot(page, "audit");
});
