/**
 * Secrets end to end: the sandbox holds a placeholder; the TLS-intercepting proxy puts the real
 * value in requests to the secret's hosts only, and takes it out of what comes back.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { curl, served, useNetworkDaemon } from "./network-helpers.js";
import { killOnDispose } from "./e2e-helpers.js";

const ctx = useNetworkDaemon();
const VALUE = "real-secret-value-4f1b9c2e";

for (const allowNet of [undefined, ["api.example.com", "example.org"]]) {
  test(`secrets are substituted only toward their hosts (allowNet ${allowNet ? "restricted" : "omitted"})`, async () => {
    await using sb = killOnDispose(
      await ctx.client.createSandbox({
        timeout: "5m",
        ...(allowNet ? { allowNet } : {}),
        secrets: { API_KEY: { hosts: ["api.example.com"], value: VALUE } },
      }),
    );
    const placeholder = (await sb.sh`printenv API_KEY`.text()).trimEnd();
    assert.match(placeholder, /^ATOLL_SECRET_[0-9a-f]{40}$/);
    assert.notEqual(placeholder, VALUE);

    // HTTPS to the secret's host, trusting the sandbox CA through the default store / env.
    const before = ctx.internet.requests.length;
    const r = await curl(sb, "-H", `Authorization: Bearer ${placeholder}`, `https://api.example.com/v1?key=${placeholder}`);
    const seen = ctx.internet.requests.slice(before).find((q) => q.host === "api.example.com");
    assert.ok(seen, `the request reached api.example.com: ${r.err} ${r.out}`);
    assert.equal(seen.headers.authorization, `Bearer ${VALUE}`, "header substituted");
    assert.equal(seen.url, `/v1?key=${VALUE}`, "query substituted");
    // The fake server echoes what it got: the sandbox sees the placeholder again, never the value.
    assert.ok(r.ok, r.err);
    assert.ok(!r.out.includes(VALUE), "the value does not come back into the sandbox");
    assert.equal(served(r).headers.authorization, `Bearer ${placeholder}`);

    // Plain HTTP to the secret's host is substituted too.
    const before2 = ctx.internet.requests.length;
    await curl(sb, "-H", `X-Key: ${placeholder}`, "http://api.example.com/plain");
    assert.equal(ctx.internet.requests.slice(before2).find((q) => q.url === "/plain")?.headers["x-key"], VALUE);

    // Another host gets the placeholder unchanged.
    const before3 = ctx.internet.requests.length;
    assert.ok((await curl(sb, "-k", "-H", `Authorization: Bearer ${placeholder}`, "https://example.org/other")).ok);
    const other = ctx.internet.requests.slice(before3).find((q) => q.url === "/other");
    assert.equal(other?.headers.authorization, `Bearer ${placeholder}`);

    // Python's default trust store knows the sandbox CA as well.
    const py = `import urllib.request\nprint(urllib.request.urlopen("https://api.example.com/py", timeout=5).status)`;
    assert.equal((await sb.sh`python3 -c ${py}`.text()).trimEnd(), "200");

    // The value is nowhere in the sandbox: env, files, process memory of a shell.
    assert.notEqual((await sb.sh`grep -rqs ${VALUE} /etc /home /tmp /root /proc/self/environ`.sudo().noThrow()).status.code, 0);
    assert.ok(!(await sb.sh`env`.text()).trimEnd().includes(VALUE));
    assert.ok(!JSON.stringify(await sb.env.toObject()).includes(VALUE), "nor in the stored env");
  });
}

test("a secret needs hosts; bad secrets create nothing", async () => {
  const count = (await ctx.client.listSandboxes()).length;
  for (const secrets of [
    { K: { hosts: [], value: "x" } },
    { K: { value: "x" } },
    { K: { hosts: ["203.0.113.10"], value: "x" } },
    { K: { hosts: ["api.example.com:443"], value: "x" } },
    { "1BAD": { hosts: ["api.example.com"], value: "x" } },
    { K: { hosts: ["api.example.com"], value: "" } },
    { K: { hosts: ["api.example.com"], value: "line\nbreak" } },
  ]) {
    await assert.rejects(
      ctx.client.createSandbox({ secrets } as never),
      (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT",
      JSON.stringify(secrets),
    );
  }
  assert.equal((await ctx.client.listSandboxes()).length, count);
});
