/**
 * The SDK in Deno and Bun: a script using the published entry point (`import { Sandbox } from
 * "atoll"`) runs under each runtime against a real daemon. The runtimes come from the npm
 * registry (devDependencies `deno` and `bun`, which ship their binaries in the package).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const SCRIPT = fileURLToPath(new URL("../../src/e2e/runtime-scripts/sdk-smoke.mjs", import.meta.url));
const BIN = fileURLToPath(new URL("../../../../node_modules/.bin/", import.meta.url));

const RUNTIMES: Record<string, string[]> = {
  deno: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", SCRIPT],
  bun: ["run", SCRIPT],
};

for (const [runtime, args] of Object.entries(RUNTIMES)) {
  test(`the SDK works under ${runtime}`, async () => {
    assert.ok(existsSync(`${BIN}${runtime}`), `${runtime} is installed by npm ci (devDependency)`);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        `${BIN}${runtime}`,
        args,
        { env: { ...process.env, ATOLL_URL: ctx.daemon.url, ATOLL_TOKEN: ctx.daemon.token, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000 },
        (err, out, errOut) => (err ? reject(new Error(`${runtime} failed: ${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    const result = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(result, { text: "hello from Linux", glob: ["/mnt/v/x"], code: 7, commandError: 1, stdin: "piped through" });
  });
}
