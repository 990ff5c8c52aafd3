/**
 * Volume snapshots in the dashboard, in a real browser (Debian's Chromium via playwright-core)
 * against a real daemon: snapshots made with the SDK show with their source (also a deleted one)
 * and the space only they hold; fork from the page makes a volume with the data; delete from
 * the page, refused with the daemon's reason while a sandbox mounts the snapshot; take a
 * snapshot from a volume's page. Screenshots land in test-results/dashboard/.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Client } from "atoll";
import { expectCode, killOnDispose } from "../e2e/e2e-helpers.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { PHONE, eventually, launchBrowser, login, newContext, screenshot } from "./browser-harness.js";

const ctx = {} as { daemon: TestDaemon; client: Client };
let browser: Browser;
let page: Page;
before(async () => {
  ctx.daemon = await startTestDaemon();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  browser = await launchBrowser();
  page = await (await newContext(browser)).newPage();
  page.on("pageerror", (err) => console.error("page error:", err.message));
  await login(page, ctx.daemon.url, ctx.daemon.token);
});
after(async () => {
  await browser?.close();
  await ctx.daemon?.dispose();
});

const snapRow = (id: string, table = "snapshots-table") => page.locator(`[data-testid=${table}] tbody tr[data-id="${id}"]`);
const dialog = () => page.locator("dialog.confirm");
const go = (hash: string) => page.evaluate((h) => (window.location.hash = h), hash);

/** A volume holding /v/marker (the given text) and 8 MB of random data. */
async function seededVolume(name: string, marker: string) {
  const volume = await ctx.client.createVolume({ name, sizeGb: 0.25 });
  await using sb = killOnDispose(await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/v" }] }));
  await sb.sh`printf %s ${marker} > /v/marker && head -c 8000000 /dev/urandom > /v/blob && sync`;
  await sb.kill();
  return volume;
}

test("snapshots made with the SDK show with their source (also a deleted one), size and age", async () => {
  const source = await seededVolume("snap-src", "one");
  const snap = await source.snapshot({ name: "snap-one" });
  const gone = await ctx.client.createVolume({ name: "snap-gone", sizeGb: 0.125 });
  const orphan = await gone.snapshot({ name: "snap-orphan" });
  await ctx.client.deleteVolume(gone.id);
  await go("#/snapshots");
  await snapRow(snap.id).waitFor();
  assert.equal(await page.locator('nav a[data-nav="snapshots"]').getAttribute("aria-current"), "page");
  const row = snapRow(snap.id);
  assert.match(await row.locator("[data-col=name]").innerText(), /^snap-one$/);
  assert.equal(await row.locator(`[data-col=source] a[href="#/volumes/${source.id}"]`).innerText(), "snap-src");
  await eventually(
    "the size the daemon measures",
    async () =>
      Number(await row.locator("[data-allocated-bytes]").getAttribute("data-allocated-bytes")) === (await ctx.client.getSnapshot(snap.id)).allocatedBytes,
  );
  assert.match(await row.locator("[data-col=size]").innerText(), /B of 0\.25 GiB$/);
  assert.match(await row.locator("[data-col=age]").innerText(), /now|s ago|min ago/);
  const orphanRow = snapRow(orphan.id);
  assert.equal(await orphanRow.locator("[data-col=source] s").innerText(), "snap-gone");
  assert.equal(await orphanRow.locator("[data-col=source] .badge", { hasText: "deleted" }).count(), 1);
  assert.equal(await row.locator(".badge", { hasText: "deleted" }).count(), 0);

  const order = () => page.locator("[data-testid=snapshots-table] tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id));
  assert.deepEqual(await order(), [orphan.id, snap.id], "newest first");
  await page.click("[data-testid=snapshots-table] button[data-sort=name]");
  assert.deepEqual(await order(), [snap.id, orphan.id], "by name");
  await screenshot(page, "snapshots-laptop");
  const phone = await newContext(browser, PHONE);
  const phonePage = await phone.newPage();
  await login(phonePage, ctx.daemon.url, ctx.daemon.token);
  await phonePage.evaluate(() => (window.location.hash = "#/snapshots"));
  await phonePage.locator(`[data-testid=snapshots-table] tbody tr[data-id="${snap.id}"]`).waitFor();
  await screenshot(phonePage, "snapshots-phone");
  await phone.close();
  await ctx.client.deleteSnapshot(orphan.id);
  await snapRow(orphan.id).waitFor({ state: "detached" });
});

test("fork from the page: a volume with the snapshot's data; a taken name is refused in the dialog", async () => {
  const snap = await ctx.client.getSnapshot("snap-one");
  await go("#/snapshots");
  await snapRow(snap.id).locator("[data-action=fork]").click();
  await dialog().waitFor();
  assert.equal(await dialog().locator("input[name=sizeGb]").inputValue(), "0.25", "the source's size by default");
  await dialog().locator("input[name=name]").fill("snap-src");
  await dialog().locator("[data-action=confirm]").click();
  const error = dialog().locator(".error");
  await error.waitFor();
  assert.equal(await error.getAttribute("data-code"), "VOLUME_NAME_TAKEN");
  await screenshot(page, "snapshot-fork-refused-laptop");
  assert.equal((await ctx.client.listVolumes()).filter((v) => v.name === "snap-src").length, 1, "nothing was made");

  await dialog().locator("input[name=name]").fill("forked");
  await dialog().locator("input[name=sizeGb]").fill("0.5");
  await dialog().locator("[data-action=confirm]").click();
  await dialog().waitFor({ state: "detached" });
  const forked = await eventually("the fork", async () => (await ctx.client.listVolumes()).find((v) => v.name === "forked"));
  assert.equal(forked.sizeGb, 0.5);
  await using sb = killOnDispose(await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: forked.id, mountPath: "/f" }] }));
  assert.equal((await sb.sh`cat /f/marker`.text()).trim(), "one");
  await sb.kill();
  await ctx.client.deleteVolume(forked.id);
});

test("delete from the page: refused while a sandbox mounts it read-only (SNAPSHOT_IN_USE), then deleted", async () => {
  const snap = await ctx.client.getSnapshot("snap-one");
  await using sb = killOnDispose(await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: snap.id, mountPath: "/g", accessMode: "ro" }] }));
  await go("#/snapshots");
  await snapRow(snap.id).locator("[data-action=delete]").click();
  await dialog().locator("[data-action=confirm]").click();
  const error = dialog().locator(".error");
  await error.waitFor();
  assert.equal(await error.getAttribute("data-code"), "SNAPSHOT_IN_USE");
  assert.match(await error.innerText(), new RegExp(`mounted in ${sb.id} at /g`));
  await screenshot(page, "snapshot-delete-refused-laptop");
  await dialog().locator("[data-action=cancel]").click();
  assert.equal((await ctx.client.getSnapshot(snap.id)).id, snap.id, "nothing was deleted");

  await sb.kill();
  await snapRow(snap.id).locator("[data-action=delete]").click();
  await dialog().locator("[data-action=confirm]").click();
  await snapRow(snap.id).waitFor({ state: "detached" });
  await expectCode(ctx.client.getSnapshot(snap.id), "SNAPSHOT_NOT_FOUND");
});

test("a volume's page lists its snapshots and takes one", async () => {
  const source = await ctx.client.getVolume("snap-src");
  await go(`#/volumes/${source.id}`);
  await page.locator("[data-page=volume] [data-action=take-snapshot]:not([disabled])").waitFor();
  assert.equal(await page.locator("[data-testid=volume-snapshots-table] tbody tr").count(), 0);
  await page.click("[data-action=take-snapshot]");
  await dialog().locator("input[name=name]").fill("from-page");
  await dialog().locator("[data-action=confirm]").click();
  const made = await eventually("the snapshot", async () => (await ctx.client.listSnapshots()).find((s) => s.name === "from-page"));
  assert.equal(made.volumeId, source.id);
  await snapRow(made.id, "volume-snapshots-table").waitFor();
  assert.equal(await snapRow(made.id, "volume-snapshots-table").locator("[data-col=source]").innerText(), "snap-src");
  await screenshot(page, "volume-snapshots-laptop");
  await ctx.client.deleteSnapshot(made.id);
  await ctx.client.deleteVolume(source.id);
});
