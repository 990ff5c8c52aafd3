import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * Guardrail (issue 12, "every error the daemon raises extends the root"): the daemon's source
 * raises AtollError subclasses with a stable code (DaemonError, StartupError, InvalidArgumentError…),
 * never a plain `new Error(`. This test reads packages/server/src and fails on any plain one
 * outside the places listed here with their reason.
 */
const SRC = fileURLToPath(new URL("../src", import.meta.url));

/** Directories that are not the daemon: test support and the QEMU test-VM tooling. */
const SKIPPED_DIRS = new Set(["testing", "e2e", "vm"]);

/** Files allowed their plain Errors, and how many, with the reason. */
const ALLOWED: Record<string, { count: number; why: string }> = {
  "dashboard/browser-harness.ts": { count: 2, why: "test harness that drives Chromium, not the daemon" },
  "net/netd/http-forward.ts": { count: 1, why: "a Node lookup callback's ENOTFOUND error, shaped as Node's own" },
};

function sourceFiles(dir: string, rel = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return SKIPPED_DIRS.has(r) ? [] : sourceFiles(path.join(dir, e.name), r);
    return e.name.endsWith(".ts") && !/\.(test|itest)\.ts$/.test(e.name) ? [r] : [];
  });
}

/** Plain `new Error(` in `text`, comments included (a commented-out one would come back). */
function plainErrors(text: string): number {
  return text.match(/\bnew Error\(/g)?.length ?? 0;
}

test("the daemon's source raises no plain `new Error(` (DaemonError or another AtollError instead)", () => {
  const files = sourceFiles(SRC);
  assert.ok(files.includes("daemon.ts") && files.length > 100, `read the source tree at ${SRC}`);
  const found: string[] = [];
  for (const f of files) {
    const n = plainErrors(readFileSync(path.join(SRC, f), "utf8"));
    if (n > (ALLOWED[f]?.count ?? 0)) found.push(`${f}: ${n} plain new Error(`);
  }
  assert.deepEqual(found, [], "throw a DaemonError (packages/server/src/daemon-error.ts) with a DAEMON_ERROR_CODES code, or an API error class for bad input");
});

test("the guard sees a plain Error and ignores DaemonError", () => {
  assert.equal(plainErrors('throw new Error("x"); reject(new Error(m));'), 2);
  assert.equal(plainErrors('throw new DaemonError("CONFIG_INVALID", "x"); new AtollError("INTERNAL", "y");'), 0);
});
