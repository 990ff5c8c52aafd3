/**
 * Tenants and the admin API: a tenant never sees, mounts, deletes or attaches another tenant's
 * volumes or sandboxes (404, not 403); admin routes refuse other tokens; revoked tokens stop at
 * once; quotas refuse clearly.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "atoll";
import { expectCode, useDaemon, killOnDispose } from "./e2e-helpers.js";

const ctx = useDaemon();

async function tenantClient(tenant: string, admin = false): Promise<{ client: Client; id: string }> {
  const created = await ctx.client.admin.createToken({ tenant, admin });
  assert.match(created.token, /^atl_[0-9a-f]{64}$/);
  return { client: new Client({ url: ctx.daemon.url, token: created.token }), id: created.id };
}

test("one tenant cannot see or touch another tenant's volumes and sandboxes", async () => {
  const a = (await tenantClient("team-a")).client;
  const b = (await tenantClient("team-b")).client;
  const volume = await a.createVolume({ name: "private", sizeGb: 0.0625 });
  await using sb = killOnDispose(await a.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/p" }] }));

  // b sees nothing of a's, and every attempt reads as "does not exist".
  assert.deepEqual(await b.listVolumes(), []);
  assert.deepEqual(await b.listSandboxes(), []);
  await expectCode(b.getVolume(volume.id), "VOLUME_NOT_FOUND");
  await expectCode(b.getVolume("private"), "VOLUME_NOT_FOUND");
  await expectCode(b.deleteVolume(volume.id, { force: true }), "VOLUME_NOT_FOUND");
  await expectCode(b.getSandbox(sb.id), "SANDBOX_NOT_FOUND");
  await expectCode(b.killSandbox(sb.id), "SANDBOX_NOT_FOUND");
  await expectCode(b.connectSandbox(sb.id), "SANDBOX_NOT_FOUND");
  await expectCode(b.createSandbox({ volumes: [{ id: volume.id, mountPath: "/steal" }] }), "VOLUME_NOT_FOUND");
  await using bsb = killOnDispose(await b.createSandbox({ timeout: "5m" }));
  await expectCode(bsb.attachVolume({ id: volume.id, mountPath: "/steal" }), "VOLUME_NOT_FOUND");

  // The same name in another tenant is a different volume.
  const bVolume = await b.createVolume({ name: "private", sizeGb: 0.0625 });
  assert.notEqual(bVolume.id, volume.id);
  // The admin (tenant "default") does not see tenants' resources through the ordinary API either.
  await expectCode(ctx.client.getVolume(volume.id), "VOLUME_NOT_FOUND");
  // a's sandbox still works with its volume.
  assert.equal((await sb.sh`echo mine > /p/f && cat /p/f`.text()).trimEnd(), "mine");
  await sb.kill();
  await bsb.kill();
  await a.deleteVolume(volume.id);
  await b.deleteVolume(bVolume.id);
});

test("admin routes are for admin tokens; revoked tokens stop working at once", async () => {
  const { client: plain, id } = await tenantClient("team-c");
  await expectCode(plain.admin.listTokens(), "FORBIDDEN");
  await expectCode(plain.admin.createToken({ tenant: "team-c", admin: true }), "FORBIDDEN");
  await expectCode(plain.admin.setQuota("team-c", { maxSandboxes: 1000, maxVolumeGb: null }), "FORBIDDEN");
  assert.deepEqual(await plain.listVolumes(), []);

  const tokens = await ctx.client.admin.listTokens();
  const listed = tokens.find((t) => t.id === id);
  assert.equal(listed?.tenant, "team-c");
  assert.ok(!("token" in (listed ?? {})), "listing never shows token values");

  await ctx.client.admin.revokeToken(id);
  await expectCode(plain.listVolumes(), "UNAUTHORIZED");
  await expectCode(ctx.client.admin.revokeToken(id), "NOT_FOUND");

  // A second admin token can administer.
  const { client: admin2 } = await tenantClient("ops", true);
  assert.ok((await admin2.admin.listTenants()).some((t) => t.name === "team-c"));
});

test("quotas: max sandboxes and max total volume GiB per tenant are refused clearly", async () => {
  const { client } = await tenantClient("small");
  await ctx.client.admin.setQuota("small", { maxSandboxes: 2, maxVolumeGb: 0.25 });
  const one = await client.createSandbox({ timeout: "5m" });
  const two = await client.createSandbox({ timeout: "5m" });
  const err = await expectCode(client.createSandbox({ timeout: "5m" }), "QUOTA_EXCEEDED");
  assert.match(err.message, /at most 2 sandboxes/);
  await one.kill();
  const three = await client.createSandbox({ timeout: "5m" }); // room again
  await two.kill();
  await three.kill();

  const v1 = await client.createVolume({ name: "q1", sizeGb: 0.125 });
  const v2 = await client.createVolume({ name: "q2", sizeGb: 0.125 });
  const verr = await expectCode(client.createVolume({ name: "q3", sizeGb: 0.0625 }), "QUOTA_EXCEEDED");
  assert.match(verr.message, /0.25 GiB/);
  assert.equal((await client.listVolumes()).length, 2, "the refused volume left nothing");
  const tenants = await ctx.client.admin.listTenants();
  assert.deepEqual(
    tenants.find((t) => t.name === "small"),
    { name: "small", maxSandboxes: 2, maxVolumeGb: 0.25, netOpen: [], sandboxes: 0, volumeGb: 0.25 },
  );
  await client.deleteVolume(v1.id);
  await client.deleteVolume(v2.id);
  await ctx.client.admin.setQuota("small", { maxSandboxes: null, maxVolumeGb: null });
});

test("bad admin input is refused with a clear error", async () => {
  await expectCode(ctx.client.admin.createToken({ tenant: "Bad Name" }), "INVALID_ARGUMENT");
  await expectCode(ctx.client.admin.createToken({ tenant: "x", extra: 1 } as never), "INVALID_ARGUMENT");
  await expectCode(ctx.client.admin.setQuota("x", { maxSandboxes: -1, maxVolumeGb: null }), "INVALID_ARGUMENT");
  await expectCode(ctx.client.admin.revokeToken("tok_nope"), "NOT_FOUND");
});
