/**
 * `exposeHttp` through Deno's own client (docs/deno-compatibility.md): the client asks the daemon
 * for a domain (POST /api/v3/sandbox/:id/expose/http), then binds a port to it (the `exposeHttp`
 * RPC) and returns `https://<domain>`. A daemon with an https `--expose-domain` serves that URL;
 * a domain the daemon did not hand out to that sandbox is refused. The test sends the Host header
 * itself to the expose listener (no DNS record and no TLS proxy exist here).
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { Sandbox } from "@deno/sandbox";
import WebSocket from "ws";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { denoClientEnv, freePort } from "./e2e-helpers.js";

const ctx = {} as { daemon: TestDaemon; exposePort: number };

before(async () => {
  ctx.exposePort = await freePort();
  ctx.daemon = await startTestDaemon({ env: { ATOLL_EXPOSE_DOMAIN: "https://sbx.test", ATOLL_EXPOSE_LISTEN: `127.0.0.1:${ctx.exposePort}` } });
  Object.assign(process.env, denoClientEnv(ctx.daemon));
});
after(() => ctx.daemon?.dispose());

function getWithHost(host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: ctx.exposePort, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

async function serve(sandbox: Sandbox, text: string): Promise<void> {
  await sandbox.fs.mkdir("/tmp/www");
  await sandbox.fs.writeTextFile("/tmp/www/index.html", text);
  await sandbox.spawn("python3", { args: ["-m", "http.server", "8000", "--directory", "/tmp/www"] });
  await sandbox.sh`for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/8000) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;
}

test("Deno's exposeHttp({ port }) returns https://<token>.<domain>, served by the expose listener", async () => {
  await using sandbox = await Sandbox.create();
  await serve(sandbox, "exposed through the deno client");
  const url = await sandbox.exposeHttp({ port: 8000 });
  assert.match(url, /^https:\/\/[a-z2-7]{26}\.sbx\.test$/);
  assert.deepEqual(await getWithHost(new URL(url).host, "/index.html"), { status: 200, body: "exposed through the deno client" });
});

test("a domain not handed out to this sandbox is refused", async () => {
  await using mine = await Sandbox.create();
  await using other = await Sandbox.create();
  await serve(other, "other");
  const auth = { authorization: `Bearer ${ctx.daemon.token}`, "content-type": "application/json" };
  const ask = await fetch(`${ctx.daemon.url}/api/v3/sandbox/${mine.id}/expose/http`, { method: "POST", headers: auth, body: "{}" });
  assert.equal(ask.status, 200);
  const { domain } = (await ask.json()) as { domain: string };
  const ws = new WebSocket(`${ctx.daemon.url.replace(/^http/, "ws")}/api/v3/sandbox/${other.id}/connect`, { headers: auth });
  await new Promise((resolve) => ws.once("open", resolve));
  const call = (id: number, params: unknown) =>
    new Promise<{ result?: { ok?: unknown; error?: unknown } }>((resolve) => {
      const onMessage = (d: WebSocket.RawData) => {
        const m = JSON.parse(String(d)) as { id?: number };
        if (m.id !== id) return;
        ws.off("message", onMessage);
        resolve(m as never);
      };
      ws.on("message", onMessage);
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method: "exposeHttp", params }));
    });
  // The other sandbox cannot bind its port to a domain handed out for `mine`, nor to a made-up one.
  assert.match(JSON.stringify((await call(1, { domain, port: 8000 })).result?.error), /not handed out for this sandbox/);
  assert.match(JSON.stringify((await call(2, { domain: `${"a".repeat(26)}.sbx.test`, port: 8000 })).result?.error), /not handed out for this sandbox/);
  ws.close();
  assert.equal((await getWithHost(domain, "/index.html")).status, 404, "nothing is served at the refused domain");
});
