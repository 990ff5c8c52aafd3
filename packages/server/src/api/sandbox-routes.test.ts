/**
 * Every /v1/sandboxes route in process (`app.inject()` on the daemon's buildHttpServer over the
 * fake drivers, testing/fakes/fake-daemon.ts): status codes, bodies and error codes, with the
 * insight, network (this daemon runs with networking off) and file routes of a sandbox. The
 * session WebSocket: session-socket.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FakeDaemon, assertWireError, startFakeDaemon } from "../testing/fakes/fake-daemon.js";

let d: FakeDaemon;
before(async () => {
  d = await startFakeDaemon({ files: { result: { size: 3, type: "file" } } });
});
after(async () => {
  await d.close();
});

interface Info {
  id: string;
  state: string;
  stopReason: string | null;
  labels: Record<string, string>;
  volumes: { volumeId: string; mountPath: string }[];
}

const create = async (body: object = {}): Promise<Info> => {
  const res = await d.request("POST", "/v1/sandboxes", { body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as Info;
};

describe("/v1/sandboxes", () => {
  it("POST creates (201, the sandbox), bad options are 400 INVALID_ARGUMENT", async () => {
    const sb = await create({ labels: { team: "a" } });
    assert.match(sb.id, /^sbx_/);
    assert.equal(sb.state, "running");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { memoryMb: "lots" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { nope: 1 } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: "not json", headers: { "content-type": "application/json" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", "/v1/sandboxes", { body: { volumes: [{ id: "nope", mountPath: "/x" }] } }), 404, "VOLUME_NOT_FOUND");
  });

  it("GET lists with label and state filters; GET :id shows one; unknown ids are 404 SANDBOX_NOT_FOUND", async () => {
    const a = await create({ labels: { role: "web" } });
    const b = await create({ labels: { role: "db" } });
    await d.request("DELETE", `/v1/sandboxes/${b.id}`);
    const web = (await d.request("GET", "/v1/sandboxes?label=role=web")).json() as { sandboxes: Info[] };
    assert.deepEqual(
      web.sandboxes.map((s) => s.id),
      [a.id],
    );
    const stopped = (await d.request("GET", "/v1/sandboxes?state=stopped")).json() as { sandboxes: Info[] };
    assert.ok(stopped.sandboxes.some((s) => s.id === b.id) && stopped.sandboxes.every((s) => s.state === "stopped"));
    const one = await d.request("GET", `/v1/sandboxes/${a.id}`);
    assert.equal(one.statusCode, 200);
    assert.deepEqual((one.json() as Info).labels, { role: "web" });
    assertWireError(await d.request("GET", "/v1/sandboxes/sbx_doesnotexist"), 404, "SANDBOX_NOT_FOUND");
    assertWireError(await d.request("DELETE", "/v1/sandboxes/sbx_doesnotexist"), 404, "SANDBOX_NOT_FOUND");
  });

  it("DELETE kills (200, stopped, killed); again it answers the same", async () => {
    const sb = await create();
    const res = await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual([(res.json() as Info).state, (res.json() as Info).stopReason], ["stopped", "killed"]);
    assert.equal((await d.request("DELETE", `/v1/sandboxes/${sb.id}`)).statusCode, 200);
  });

  it("timeout: POST extends (200), refuses a bad body (400) and a stopped sandbox (409 SANDBOX_NOT_RUNNING)", async () => {
    const sb = await create({ timeout: "5m" });
    const res = await d.request("POST", `/v1/sandboxes/${sb.id}/timeout`, { body: { extendBy: "1m" } });
    assert.equal(res.statusCode, 200, res.body);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/timeout`, { body: { extendBy: "soon" } }), 400, "INVALID_ARGUMENT");
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/timeout`, { body: { extendBy: "1m" } }), 409, "SANDBOX_NOT_RUNNING");
  });

  it("env: GET shows it, PATCH sets and deletes, a bad patch is 400", async () => {
    const sb = await create({ env: { A: "1", B: "2" } });
    assert.deepEqual((await d.request("GET", `/v1/sandboxes/${sb.id}/env`)).json(), { env: { A: "1", B: "2" } });
    const patched = await d.request("PATCH", `/v1/sandboxes/${sb.id}/env`, { body: { set: { C: "3" }, delete: ["A"] } });
    assert.deepEqual(patched.json(), { env: { B: "2", C: "3" } });
    assertWireError(await d.request("PATCH", `/v1/sandboxes/${sb.id}/env`, { body: { set: { C: 3 } } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("GET", "/v1/sandboxes/sbx_doesnotexist/env"), 404, "SANDBOX_NOT_FOUND");
  });

  it("volumes: POST attaches (200, listed), DELETE detaches; conflicts are 409, unknown ones 404", async () => {
    const vol = (await d.request("POST", "/v1/volumes", { body: { name: "attach-me", sizeGb: 1 } })).json() as { id: string };
    const sb = await create();
    const attached = await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "attach-me", mountPath: "/data" } });
    assert.equal(attached.statusCode, 200, attached.body);
    assert.deepEqual(
      (attached.json() as Info).volumes.map((v) => [v.volumeId, v.mountPath]),
      [[vol.id, "/data"]],
    );
    assertWireError(
      await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "attach-me", mountPath: "/again" } }),
      409,
      "VOLUME_ALREADY_ATTACHED",
    );
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "attach-me", mountPath: "relative" } }), 400, "INVALID_ARGUMENT");
    assertWireError(
      await d.request("POST", "/v1/sandboxes/sbx_doesnotexist/volumes", { body: { id: "attach-me", mountPath: "/d" } }),
      404,
      "SANDBOX_NOT_FOUND",
    );
    const detached = await d.request("DELETE", `/v1/sandboxes/${sb.id}/volumes/attach-me?force=true`);
    assert.equal(detached.statusCode, 200);
    assert.deepEqual((detached.json() as Info).volumes, []);
    assertWireError(await d.request("DELETE", `/v1/sandboxes/${sb.id}/volumes/attach-me`), 404, "VOLUME_NOT_ATTACHED");
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/volumes`, { body: { id: "attach-me", mountPath: "/data" } }), 409, "SANDBOX_NOT_RUNNING");
  });

  it("stats and commands: live figures of a running sandbox, 409 once stopped; bad limit 400", async () => {
    const sb = await create({ memoryMb: 256 });
    const stats = await d.request("GET", `/v1/sandboxes/${sb.id}/stats`);
    assert.equal(stats.statusCode, 200);
    assert.equal((stats.json() as { memoryLimitBytes: number }).memoryLimitBytes, 256 * 2 ** 20);
    assert.deepEqual((await d.request("GET", `/v1/sandboxes/${sb.id}/commands`)).json(), { commands: [] });
    assertWireError(await d.request("GET", `/v1/sandboxes/${sb.id}/commands?limit=0`), 400, "INVALID_ARGUMENT");
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assertWireError(await d.request("GET", `/v1/sandboxes/${sb.id}/stats`), 409, "SANDBOX_NOT_RUNNING");
    assertWireError(await d.request("GET", "/v1/sandboxes/sbx_doesnotexist/commands"), 404, "SANDBOX_NOT_FOUND");
  });

  it("network routes without networking: allow-net and expose are 400, fetch checks the sandbox first", async () => {
    const sb = await create();
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/allow-net`, { body: { allowNet: [] } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/expose`, { body: { port: 8080 } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/fetch`, { headers: { "x-atoll-url": "http://example.test/" } }), 400, "INVALID_ARGUMENT");
    assertWireError(
      await d.request("POST", "/v1/sandboxes/sbx_doesnotexist/fetch", { headers: { "x-atoll-url": "http://example.test/" } }),
      404,
      "SANDBOX_NOT_FOUND",
    );
    assertWireError(await d.request("POST", "/v1/sandboxes/sbx_doesnotexist/allow-net", { body: { allowNet: [] } }), 404, "SANDBOX_NOT_FOUND");
  });

  it("files: an operation runs in the sandbox (200), a bad user or op is 400, a stopped sandbox 409", async () => {
    const sb = await create();
    const stat = await d.request("POST", `/v1/sandboxes/${sb.id}/fs/op?user=root`, { body: { op: "stat", path: "/etc/hostname" } });
    assert.equal(stat.statusCode, 200, stat.body);
    assert.deepEqual(stat.json(), { size: 3, type: "file" });
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/fs/op?user=admin`, { body: { op: "stat", path: "/" } }), 400, "INVALID_ARGUMENT");
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/fs/op`, { body: { op: "format", path: "/" } }), 400, "INVALID_ARGUMENT");
    await d.request("DELETE", `/v1/sandboxes/${sb.id}`);
    assertWireError(await d.request("POST", `/v1/sandboxes/${sb.id}/fs/op`, { body: { op: "stat", path: "/" } }), 409, "SANDBOX_NOT_RUNNING");
    assertWireError(await d.request("GET", "/v1/sandboxes/sbx_doesnotexist/fs/file?path=/x"), 404, "SANDBOX_NOT_FOUND");
  });
});
