/**
 * exposeHttp, create({ port }) and sandbox.fetch end to end; bad network input creates nothing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { Client, NetworkError, type Sandbox } from "atoll";
import { listNetns } from "../net/netns-ops.js";
import { useNetworkDaemon } from "./network-helpers.js";

const ctx = useNetworkDaemon();

/** Starts `python3 -m http.server` on `port` (bound to `bind`) serving a file with `text`. */
async function serve(sb: Sandbox, port: number, text: string, bind = "0.0.0.0"): Promise<void> {
  await sb.sh`mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html`;
  await sb.spawn("python3", { args: ["-m", "http.server", String(port), "--bind", bind, "--directory", "/tmp/www"], stdout: "null", stderr: "null" });
  for (let i = 0; i < 100; i++) {
    if ((await sb.sh`curl -s -o /dev/null http://localhost:${port}/`.noThrow()).status.code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not start");
}

/** The status of a GET, or "refused" when nothing listens there any more. */
async function statusOf(url: string): Promise<number | "refused"> {
  try {
    return (await fetch(url)).status;
  } catch {
    return "refused";
  }
}

const URL_FORM = /^http:\/\/127\.\d+\.\d+\.\d+:\d+\/[a-z2-7]{26}\/$/;

test("exposeHttp serves a sandbox port at an unguessable URL of its own origin until the sandbox ends", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "5m", allowNet: [] });
  await serve(sb, 8000, "hello from the sandbox", "127.0.0.1");
  const details = await sb.exposeHttpDetails({ port: 8000 });
  assert.match(details.url, URL_FORM);
  assert.notEqual(new URL(details.url).host, new URL(ctx.daemon.url).host, "never the API's host:port");
  assert.equal(await sb.exposeHttp({ port: 8000 }), details.url, "exposing twice gives the same URL");
  // Node's fetch reaches it without any DNS set-up.
  assert.equal((await (await fetch(details.url)).text()).trim(), "hello from the sandbox");
  assert.equal((await (await fetch(`${details.url}index.html`)).text()).trim(), "hello from the sandbox");
  assert.deepEqual(
    (await sb.info()).network?.exposed.map((e) => e.port),
    [8000],
  );
  // A wrong token, or none, is a 404, without the API token too.
  const origin = new URL(details.url).origin;
  assert.equal(await statusOf(`${origin}/aaaaaaaaaaaaaaaaaaaaaaaaaa/`), 404);
  assert.equal(await statusOf(`${origin}/index.html`), 404);
  // The old path form on the API's origin is gone.
  assert.equal(await statusOf(`${ctx.daemon.url}/expose/${new URL(details.url).pathname.split("/")[1]}/`), 401);
  await sb.kill();
  assert.equal(await statusOf(details.url), "refused", "gone with the sandbox");
});

test("create({ port }) sets sandbox.url", async () => {
  await using sb = await ctx.client.createSandbox({ port: 8080 });
  assert.match(sb.url ?? "", URL_FORM);
  await serve(sb, 8080, "port option");
  assert.equal((await (await fetch(sb.url!)).text()).trim(), "port option");
  assert.equal(await statusOf(`${sb.url!}missing`), 404, "the sandbox's own 404");
});

test("sandbox.fetch makes requests from inside the sandbox's network", async () => {
  await using sb = await ctx.client.createSandbox({ allowNet: ["example.com"] });
  await serve(sb, 3000, "local server", "127.0.0.1");
  const local = await sb.fetch("http://localhost:3000/");
  assert.equal(local.status, 200);
  assert.equal((await local.text()).trim(), "local server");
  const remote = await sb.fetch("https://example.com/hello?x=1", { headers: { "x-test": "1" } });
  const body = (await remote.json()) as { url: string; headers: Record<string, string> };
  assert.equal(body.url, "/hello?x=1");
  assert.equal(body.headers["x-test"], "1");
  const posted = await sb.fetch("http://example.com/post", { method: "POST", body: "payload" });
  assert.equal(((await posted.json()) as { body: string }).body, "payload");
  await assert.rejects(sb.fetch("http://example.org/"), (e: unknown) => e instanceof NetworkError && e.code === "FETCH_FAILED");
  await assert.rejects(sb.fetch("http://localhost:3999/"), (e: unknown) => e instanceof NetworkError);
});

test("bad network input is refused clearly and creates nothing", async () => {
  const sandboxes = (await ctx.client.listSandboxes()).length;
  const namespaces = (await listNetns("atoll-")).length;
  for (const allowNet of [
    ["example.com:99999"],
    ["example.com:0"],
    ["203.0.113.0/33"],
    ["*"],
    [""],
    ["exa mple.com"],
    ["a..b"],
    ["*.*.example.com"],
    ["https://example.com"],
    ["[2001:db8::1"],
    ["-bad-.com"],
  ]) {
    await assert.rejects(
      ctx.client.createSandbox({ allowNet }),
      (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT" && e.message.includes("allowNet"),
      JSON.stringify(allowNet),
    );
  }
  for (const port of [0, 70000, 1.5]) {
    await assert.rejects(ctx.client.createSandbox({ port }), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT", `port ${port}`);
  }
  assert.equal((await ctx.client.listSandboxes()).length, sandboxes);
  assert.equal((await listNetns("atoll-")).length, namespaces, "no namespace was made");
  await using sb = await ctx.client.createSandbox();
  await assert.rejects(sb.exposeHttp({ port: 65536 }), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT");
  await assert.rejects(sb.setAllowNet(["bad..name"]), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT");
  assert.equal((await sb.info()).allowNet, null, "nothing changed");
});

test("after a crash, the next daemon keeps a running sandbox's network namespace (adopted) and removes the rest of the dead daemon's", async () => {
  const sb = await ctx.client.createSandbox({ timeout: "5m" });
  // This daemon's namespaces: its router `atoll-<hash of the state dir>` and `<router>-…` for sandboxes.
  const router = `atoll-${createHash("sha256").update(path.resolve(ctx.daemon.stateDir)).digest("hex").slice(0, 8)}`;
  const before = await listNetns(`${router}-`);
  assert.ok(before.length >= 1, "the sandbox (and the pool) have namespaces");
  await ctx.daemon.crash();
  ctx.daemon = await ctx.daemon.restart();
  ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  const after = await listNetns(`${router}-`);
  const kept = before.filter((n) => after.includes(n));
  assert.equal(kept.length, 1, `only the adopted sandbox's namespace is kept (kept: ${kept.join(", ")})`);
  assert.equal((await ctx.client.getSandbox(sb.id)).state, "running", "the sandbox was adopted");
  assert.equal((await (await ctx.client.connectSandbox(sb.id)).sh`grep -q eth0: /proc/net/dev && echo yes`.text()).trimEnd(), "yes", "and its network");
  await ctx.client.killSandbox(sb.id);
  await using again = await ctx.client.createSandbox({ allowNet: ["example.com"] });
  assert.equal((await again.sh`curl -s -o /dev/null -w %{http_code} http://example.com/`.text()).trimEnd(), "200", "the new router works");
});
