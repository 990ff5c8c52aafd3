/**
 * `--expose-domain` (docs/network.md, "Where exposed apps live"): exposed ports are served at
 * `<token>.<domain>` by a listener of their own, never by the API's port, and no loopback
 * listener is made. The test sends the Host header itself (no DNS record exists here).
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { Client } from "atoll";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { startHostileServer } from "./web-attack-helpers.js";

const ctx = {} as { daemon: TestDaemon; client: Client };
before(async () => {
  ctx.daemon = await startTestDaemon({ env: { ATOLL_EXPOSE_DOMAIN: "sbx.test", ATOLL_EXPOSE_LISTEN: "127.0.0.1:0" } });
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
});
after(() => ctx.daemon?.dispose());

/** GET `path` from 127.0.0.1:`port` with a chosen Host header. */
function getWithHost(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

test("exposed ports are served at <token>.<domain> on the expose listener only", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: [] });
  await startHostileServer(sb, 8000, { "index.html": "hello from the domain" });
  const url = new URL(await sb.exposeHttp({ port: 8000 }));
  assert.match(url.href, /^http:\/\/[a-z2-7]{26}\.sbx\.test:\d+\/$/);
  const port = Number(url.port);
  assert.notEqual(port, Number(new URL(ctx.daemon.url).port), "not the API's port");
  assert.deepEqual(await getWithHost(port, url.host, "/index.html"), { status: 200, body: "hello from the domain" });
  const echo = JSON.parse((await getWithHost(port, url.host, "/echo")).body) as { path: string };
  assert.equal(echo.path, "/echo", "the path reaches the app unchanged");
  assert.equal((await getWithHost(port, `${"a".repeat(26)}.sbx.test:${port}`, "/")).status, 404, "a wrong token");
  assert.equal((await getWithHost(port, "127.0.0.1", "/")).status, 404, "no token in the Host");
  assert.equal((await getWithHost(Number(new URL(ctx.daemon.url).port), url.host, "/index.html")).status, 401, "the API's port does not serve exposures");
  await sb.kill();
  assert.equal((await getWithHost(port, url.host, "/index.html")).status, 404, "gone with the sandbox");
});
