/** The audit trail against a real daemon: what is recorded, tenant isolation, login, no secrets, `atoll audit`. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type AuditEntry, Client } from "atoll";
import { useDaemon } from "../e2e/e2e-helpers.js";
import { runCli } from "../testing/cli-runner.js";

const ctx = useDaemon();

async function audit(token: string, query = ""): Promise<{ status: number; entries: AuditEntry[]; code?: string }> {
  const res = await fetch(`${ctx.daemon.url}/v1/audit${query}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { entries?: AuditEntry[]; error?: { code: string } };
  return { status: res.status, entries: body.entries ?? [], ...(body.error ? { code: body.error.code } : {}) };
}

const brief = (e: AuditEntry) => [e.action, e.target, e.outcome];

test("state-changing calls are recorded with tenant, token, target and outcome; reads are not", async () => {
  const volume = await ctx.client.createVolume({ name: "audited", sizeGb: 0.25 });
  const sb = await ctx.client.createSandbox({ timeout: "5m" });
  await sb.attachVolume({ id: volume.id, mountPath: "/data" });
  await sb.detachVolume(volume.id);
  await ctx.client.listSandboxes();
  await sb.kill();
  await assert.rejects(ctx.client.deleteVolume("no-such-volume"));
  await ctx.client.deleteVolume(volume.id);
  const created = await ctx.client.admin.createToken({ tenant: "audit-a" });
  await ctx.client.admin.setQuota("audit-a", { maxSandboxes: 3, maxVolumeGb: null });
  await ctx.client.admin.revokeToken(created.id);

  const { entries } = await audit(ctx.daemon.token, "?limit=20");
  assert.deepEqual(entries.map(brief).reverse(), [
    ["volume.create", volume.id, "ok"],
    ["sandbox.create", sb.id, "ok"],
    ["volume.attach", `${sb.id}/${volume.id}`, "ok"],
    ["volume.detach", `${sb.id}/${volume.id}`, "ok"],
    ["sandbox.kill", sb.id, "ok"],
    ["volume.delete", "no-such-volume", "VOLUME_NOT_FOUND"],
    ["volume.delete", volume.id, "ok"],
    ["token.create", created.id, "ok"],
    ["tenant.quota", "audit-a", "ok"],
    ["token.revoke", created.id, "ok"],
  ]);
  assert.ok(entries.every((e) => e.tenant === "default" && e.tokenId === "bootstrap" && !Number.isNaN(Date.parse(e.at))));

  // The created token's value is in no entry and nowhere in the store's files.
  const store = readdirSync(ctx.daemon.stateDir)
    .filter((f) => f.startsWith("atoll.db"))
    .map((f) => readFileSync(join(ctx.daemon.stateDir, f)).toString("latin1"))
    .join("");
  assert.ok(store.includes(created.id), "the probe reads the store (the token id is there)");
  assert.ok(!store.includes(created.token.slice(4)), "the token's value is not");
});

test("a tenant sees its own entries only; another tenant answers NOT_FOUND, as an unknown one does", async () => {
  const a = await ctx.client.admin.createToken({ tenant: "iso-a" });
  const b = await ctx.client.admin.createToken({ tenant: "iso-b" });
  const va = await new Client({ url: ctx.daemon.url, token: a.token }).createVolume({ name: "mine", sizeGb: 0.25 });
  await new Client({ url: ctx.daemon.url, token: b.token }).createVolume({ name: "theirs", sizeGb: 0.25 });
  // B probing A's volume is recorded in B's trail, not in A's.
  await assert.rejects(new Client({ url: ctx.daemon.url, token: b.token }).deleteVolume(va.id));

  const own = await audit(a.token, "?since=1h");
  assert.equal(own.status, 200);
  assert.deepEqual(
    own.entries.map((e) => [e.tenant, e.tokenId, ...brief(e)]),
    [["iso-a", a.id, "volume.create", va.id, "ok"]],
  );
  const other = await audit(a.token, "?tenant=iso-b");
  const unknown = await audit(a.token, "?tenant=no-such-tenant");
  assert.deepEqual([other.status, other.code], [404, "NOT_FOUND"]);
  assert.deepEqual([unknown.status, unknown.code], [404, "NOT_FOUND"], "the same answer: tenants cannot be probed");
  assert.equal((await audit(a.token, "?tenant=iso-a")).entries.length, 1);

  const ofB = await audit(ctx.daemon.token, "?tenant=iso-b");
  assert.deepEqual(ofB.entries.map(brief).reverse(), [
    ["volume.create", ofB.entries[1]?.target, "ok"],
    ["volume.delete", va.id, "VOLUME_NOT_FOUND"],
  ]);
  const all = await audit(ctx.daemon.token, "?limit=1000");
  assert.ok(
    ["iso-a", "iso-b", "default"].every((t) => all.entries.some((e) => e.tenant === t)),
    "an admin sees every tenant",
  );
  assert.deepEqual([(await audit(a.token, "?limit=0")).status, (await audit(a.token, "?since=yesterday")).status], [400, 400]);
});

test("dashboard logins are recorded, failed ones too, without the token", async () => {
  const login = (token: string) =>
    fetch(`${ctx.daemon.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${token}`,
    });
  const t = await ctx.client.admin.createToken({ tenant: "login-t" });
  assert.equal((await login(t.token)).status, 303);
  assert.equal((await login(`atl_${"0".repeat(64)}`)).status, 401);
  const logins = (await audit(ctx.daemon.token, "?limit=1000")).entries.filter((e) => e.action === "login");
  assert.deepEqual(
    logins.slice(0, 2).map((e) => [e.tenant, e.tokenId, e.target, e.outcome]),
    [
      ["", "", "", "UNAUTHORIZED"],
      ["login-t", t.id, "", "ok"],
    ],
  );
});

test("atoll audit prints the trail; --tenant and --json filter and format it", async () => {
  const table = await runCli(ctx.daemon, ["audit", "--since", "1h"]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TIME\s+TENANT\s+TOKEN\s+ACTION\s+TARGET\s+OUTCOME/);
  assert.match(table.stdout, /volume\.create/);
  const json = await runCli(ctx.daemon, ["audit", "--tenant", "iso-a", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const lines = json.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as AuditEntry);
  assert.deepEqual(
    lines.map((e) => [e.tenant, e.action]),
    [["iso-a", "volume.create"]],
  );
  const bad = await runCli(ctx.daemon, ["audit", "--limit", "5000"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error \[INVALID_ARGUMENT\]: limit/);
});
