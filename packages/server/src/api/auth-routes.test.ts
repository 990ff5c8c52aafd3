/**
 * Auth, the admin API and tenants' isolation over HTTP, in process (`app.inject()` on the
 * daemon's buildHttpServer over the fake drivers, testing/fakes/fake-daemon.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  d = await startFakeDaemon();
});
after(async () => {
  await d.close();
});

describe("auth", () => {
  it("/healthz needs no token; everything else does (401 UNAUTHORIZED, missing or wrong)", async () => {
    assert.deepEqual((await d.request("GET", "/healthz", { token: null })).json(), { ok: true });
    assertWireError(await d.request("GET", "/v1/volumes", { token: null }), 401, "UNAUTHORIZED");
    assertWireError(await d.request("GET", "/v1/volumes", { token: "atl_wrong" }), 401, "UNAUTHORIZED");
    assertWireError(await d.request("POST", "/v1/sandboxes", { token: null, body: {} }), 401, "UNAUTHORIZED");
    assert.equal(d.runtime.sandboxes.size, 0, "nothing was created without a token");
    assertWireError(await d.request("GET", "/v1/openapi.json", { token: null }), 401, "UNAUTHORIZED");
    assert.equal((await d.request("GET", "/v1/openapi.json")).statusCode, 200);
  });

  it("an unknown route is 404 NOT_FOUND with the usual error body", async () => {
    assertWireError(await d.request("GET", "/v1/nothing-here"), 404, "NOT_FOUND");
  });
});

describe("admin API", () => {
  it("tokens: an admin creates (201, value shown once), lists and revokes (200); a revoked token is 401", async () => {
    const created = await d.request("POST", "/v1/tokens", { body: { tenant: "team", name: "ci" } });
    assert.equal(created.statusCode, 201, created.body);
    const { id, token } = created.json() as { id: string; token: string };
    assert.equal((await d.request("GET", "/v1/volumes", { token })).statusCode, 200);
    const list = (await d.request("GET", "/v1/tokens")).json() as { tokens: { id: string; token?: string }[] };
    assert.ok(
      list.tokens.some((t) => t.id === id && t.token === undefined),
      "the value is never listed",
    );
    assert.equal((await d.request("DELETE", `/v1/tokens/${id}`)).statusCode, 200);
    assertWireError(await d.request("GET", "/v1/volumes", { token }), 401, "UNAUTHORIZED");
    assertWireError(await d.request("DELETE", `/v1/tokens/${id}`), 404, "NOT_FOUND");
    assertWireError(await d.request("POST", "/v1/tokens", { body: { tenant: "Bad Tenant!" } }), 400, "INVALID_ARGUMENT");
  });

  it("a tenant's token gets 403 FORBIDDEN on every admin route", async () => {
    const token = await d.tenantToken("plain");
    assertWireError(await d.request("POST", "/v1/tokens", { token, body: { tenant: "plain", admin: true } }), 403, "FORBIDDEN");
    assertWireError(await d.request("GET", "/v1/tokens", { token }), 403, "FORBIDDEN");
    assertWireError(await d.request("DELETE", "/v1/tokens/tok_x", { token }), 403, "FORBIDDEN");
    assertWireError(await d.request("GET", "/v1/tenants", { token }), 403, "FORBIDDEN");
    assertWireError(await d.request("PUT", "/v1/tenants/plain/quota", { token, body: { maxSandboxes: null, maxVolumeGb: null } }), 403, "FORBIDDEN");
    assertWireError(await d.request("PUT", "/v1/tenants/plain/net", { token, body: { open: [] } }), 403, "FORBIDDEN");
  });

  it("tenants and quotas: PUT quota (200) applies at once (429 QUOTA_EXCEEDED); net access needs networking (400)", async () => {
    const token = await d.tenantToken("quota");
    const set = await d.request("PUT", "/v1/tenants/quota/quota", { body: { maxSandboxes: 0, maxVolumeGb: 1 } });
    assert.equal(set.statusCode, 200, set.body);
    assertWireError(await d.request("POST", "/v1/sandboxes", { token, body: {} }), 429, "QUOTA_EXCEEDED");
    assertWireError(await d.request("POST", "/v1/volumes", { token, body: { name: "two", sizeGb: 2 } }), 429, "QUOTA_EXCEEDED");
    assertWireError(await d.request("PUT", "/v1/tenants/quota/quota", { body: { maxSandboxes: -1, maxVolumeGb: null } }), 400, "INVALID_ARGUMENT");
    const tenants = (await d.request("GET", "/v1/tenants")).json() as { tenants: { name: string; maxSandboxes: number | null }[] };
    assert.equal(tenants.tenants.find((t) => t.name === "quota")?.maxSandboxes, 0);
    assertWireError(await d.request("PUT", "/v1/tenants/quota/net", { body: { open: ["10.0.0.0/8"] } }), 400, "INVALID_ARGUMENT");
  });
});

describe("tenants' isolation", () => {
  it("another tenant's sandboxes and volumes answer 404, never 403, on every route", async () => {
    const a = await d.tenantToken("iso-a");
    const b = await d.tenantToken("iso-b");
    const vol = (await d.request("POST", "/v1/volumes", { token: a, body: { name: "private", sizeGb: 1 } })).json() as { id: string };
    const sb = (await d.request("POST", "/v1/sandboxes", { token: a, body: { volumes: [{ id: vol.id, mountPath: "/p" }] } })).json() as { id: string };
    const sbx = `/v1/sandboxes/${sb.id}`;
    for (const [method, url, body] of [
      ["GET", sbx],
      ["DELETE", sbx],
      ["POST", `${sbx}/timeout`, { extendBy: "1m" }],
      ["GET", `${sbx}/env`],
      ["PATCH", `${sbx}/env`, { set: { X: "1" } }],
      ["POST", `${sbx}/volumes`, { id: vol.id, mountPath: "/q" }],
      ["DELETE", `${sbx}/volumes/${vol.id}`],
      ["GET", `${sbx}/stats`],
      ["GET", `${sbx}/commands`],
      ["POST", `${sbx}/fs/op`, { op: "stat", path: "/" }],
    ] as const) {
      assertWireError(await d.request(method, url, { token: b, ...(body ? { body } : {}) }), 404, "SANDBOX_NOT_FOUND");
    }
    for (const [method, url] of [
      ["GET", `/v1/volumes/${vol.id}`],
      ["GET", "/v1/volumes/private"],
      ["DELETE", `/v1/volumes/${vol.id}?force=true`],
      ["GET", `/v1/volumes/${vol.id}/usage`],
    ] as const) {
      assertWireError(await d.request(method, url, { token: b }), 404, "VOLUME_NOT_FOUND");
    }
    assert.deepEqual((await d.request("GET", "/v1/sandboxes", { token: b })).json(), { sandboxes: [] });
    assert.deepEqual((await d.request("GET", "/v1/volumes", { token: b })).json(), { volumes: [] });
    // Untouched for its owner.
    assert.equal((await d.request("GET", sbx, { token: a })).json().state, "running");
    assert.equal((await d.request("GET", `/v1/volumes/${vol.id}`, { token: a })).json().attachments.length, 1);
  });
});
