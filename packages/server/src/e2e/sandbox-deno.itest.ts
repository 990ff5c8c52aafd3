/**
 * `sandbox.deno` against a real daemon (issue 15): the host's Deno runtime bound read-only into
 * the sandbox, programs run from inline code and from files, a REPL whose globals persist, values
 * that keep their types, errors that say what failed, and a Deno HTTP server reached through
 * `httpReady` and `fetch`. Prints how long `sandbox.deno.eval` takes, cold and warm.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Sandbox } from "atoll";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

async function withSandbox(fn: (sb: Sandbox) => Promise<void>): Promise<void> {
  const sb = await ctx.client.createSandbox({ timeout: "10m", memory: "1GiB" });
  try {
    await fn(sb);
  } finally {
    await sb.kill();
  }
}

test("deno is on PATH, read-only, and deno.eval returns values with their types", { timeout: 180_000 }, async () => {
  await withSandbox(async (sb) => {
    assert.match(await sb.sh`deno --version`.text(), /^deno \d+\.\d+/);
    const write = await sb.sh`cp /dev/null /usr/local/bin/deno`.sudo().noThrow();
    assert.equal(write.status.success, false, "the bound binary cannot be replaced, even by sandbox root");
    assert.match(write.stderrText, /Read-only file system/);
    assert.match(await sb.sh`deno --version`.text(), /^deno /, "and it still runs");
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      assert.equal(await sb.deno.eval("1 + 1"), 2);
      times.push(performance.now() - t0);
    }
    console.log(
      `sandbox.deno.eval("1 + 1"): first ${times[0]!.toFixed(0)} ms, then ${times
        .slice(1)
        .map((t) => t.toFixed(0))
        .join(", ")} ms`,
    );
    const value = await sb.deno.eval<{ when: Date; tags: Set<string>; big: bigint }>("({ when: new Date(0), tags: new Set(['a']), big: 10n ** 20n })");
    assert.ok(value.when instanceof Date && value.when.getTime() === 0);
    assert.deepEqual(value.tags, new Set(["a"]));
    assert.equal(value.big, 10n ** 20n);
  });
});

test("a REPL keeps its globals; call, TypeScript, top-level await and errors", { timeout: 180_000 }, async () => {
  await withSandbox(async (sb) => {
    await using repl = await sb.deno.repl();
    await repl.eval("const base = 40; function add(a, b) { return a + b; }");
    assert.equal(await repl.eval("add(base, 2)"), 42);
    assert.equal(await repl.call("add", 1, 2), 3);
    assert.equal(await repl.call("(a, b) => a * b", 6, 7), 42);
    assert.equal(await repl.eval("(1 as number) + 1"), 2, "TypeScript syntax runs (as a module)");
    assert.equal(await repl.eval("await Promise.resolve(5)"), 5, "top-level await");
    assert.equal(await repl.eval("Deno.cwd()"), "/home/app");
    await assert.rejects(repl.eval("throw new RangeError('too far')"), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, "RangeError");
      assert.equal(e.message, "too far");
      return true;
    });
    await assert.rejects(repl.eval("() => 1"), /a function cannot be sent/);
    assert.equal(await repl.eval("console.log('noise'); 'answer'"), "answer", "what the code prints is not an answer");
  });
});

test("deno.run: inline code with scriptArgs, an entrypoint file, and an HTTP server reached through httpReady and fetch", { timeout: 180_000 }, async () => {
  await withSandbox(async (sb) => {
    const inline = await sb.deno.run({
      code: "const n: number = Deno.args.length; console.log(n, Deno.args.join(','))",
      scriptArgs: ["a", "b c"],
      stdout: "piped",
    });
    const out = await inline.output();
    assert.equal(out.status.code, 0);
    assert.equal(new TextDecoder().decode(out.stdout), "2 a,b c\n");
    assert.equal(await inline.httpReady, false, "a program that exits without listening is not HTTP-ready");

    await sb.fs.writeTextFile("main.js", "console.log(import.meta.url)");
    const fromFile = await sb.deno.run({ entrypoint: "main.js", stdout: "piped" });
    assert.equal(new TextDecoder().decode((await fromFile.output()).stdout), "file:///home/app/main.js\n");

    const server = await sb.deno.run({ code: "Deno.serve({ port: 8123, onListen() {} }, (req) => new Response('hello ' + new URL(req.url).pathname))" });
    try {
      assert.equal(await server.httpReady, true);
      const res = await server.fetch("https://example.com/path?q=1");
      assert.equal(await res.text(), "hello /path");
    } finally {
      server.kill("SIGKILL");
      await server.status.catch(() => undefined);
    }
  });
});
