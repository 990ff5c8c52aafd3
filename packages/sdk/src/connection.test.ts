import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import { isLoopbackHost, normaliseUrl, resolveConnection } from "./connection.js";
import { AuthenticationError, InvalidArgumentError } from "./contract/index.js";

const saved = { ...process.env };
afterEach(() => {
  for (const k of ["ATOLL_URL", "ATOLL_TOKEN", "ATOLL_STATE_DIR"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

test("explicit options win over the environment", async () => {
  process.env.ATOLL_URL = "http://10.1.2.3:1";
  process.env.ATOLL_TOKEN = "env";
  assert.deepEqual(await resolveConnection({ url: "http://127.0.0.1:9/", token: "opt" }), { url: "http://127.0.0.1:9", token: "opt" });
  assert.deepEqual(await resolveConnection(), { url: "http://10.1.2.3:1", token: "env" });
});

test("a loopback daemon's token is read from <ATOLL_STATE_DIR>/token", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "atoll-conn-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "token"), "file-token\n", { mode: 0o600 });
  delete process.env.ATOLL_TOKEN;
  delete process.env.ATOLL_URL;
  process.env.ATOLL_STATE_DIR = dir;
  assert.deepEqual(await resolveConnection(), { url: "http://127.0.0.1:7420", token: "file-token" });
  assert.equal((await resolveConnection({ url: "http://localhost:1" })).token, "file-token");
  // A remote daemon's token is never looked up on this machine.
  await assert.rejects(resolveConnection({ url: "http://192.0.2.1:7420" }), AuthenticationError);
});

test("a missing token file is an AuthenticationError naming the file", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "atoll-conn-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  delete process.env.ATOLL_TOKEN;
  process.env.ATOLL_STATE_DIR = dir;
  await assert.rejects(resolveConnection({ url: "http://127.0.0.1:7420" }), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError);
    assert.match(e.message, /ATOLL_TOKEN/);
    assert.ok(e.message.includes(join(dir, "token")));
    return true;
  });
});

test("URLs are validated and loopback hosts recognised", () => {
  assert.throws(() => normaliseUrl("127.0.0.1:7420"), InvalidArgumentError);
  assert.throws(() => normaliseUrl("ftp://x"), InvalidArgumentError);
  assert.equal(normaliseUrl("https://a.example/base/"), "https://a.example/base");
  for (const h of ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "::1"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["10.0.0.1", "example.com", "128.0.0.1"]) assert.ok(!isLoopbackHost(h), h);
});
