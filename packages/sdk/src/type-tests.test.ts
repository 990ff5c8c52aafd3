/**
 * Type tests: the programs in packages/sdk/type-tests (Atoll's API style and Deno Sandbox's,
 * the latter checked against @deno/sandbox's own types) compile against the built SDK with
 * `tsc --noEmit`, and their `@ts-expect-error` lines are still errors.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

test("both API styles type-check against the SDK's declarations", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const project = fileURLToPath(new URL("../type-tests/tsconfig.json", import.meta.url));
  const run = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});
