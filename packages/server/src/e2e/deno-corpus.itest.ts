/**
 * The Deno Sandbox compatibility corpus (issue 15). Each file in deno-corpus/ is a program written
 * for `@deno/sandbox` 0.13.2 (from its documentation and d.ts examples, type-checked against its
 * d.ts) that asserts what Deno documents and exits non-zero when an assertion fails. Every program
 * runs as its own process against one test daemon, in four passes:
 *
 * - `deno-client`: the program as written, with the real `@deno/sandbox` pointed at the daemon
 *   (DENO_SANDBOX_ENDPOINT, DENO_DEPLOY_ENDPOINT, DENO_DEPLOY_TOKEN, DENO_DEPLOY_ORG);
 * - `atoll-node`, `atoll-deno`, `atoll-bun`: the same text with only its import line changed to
 *   `"atoll"` (ATOLL_URL, ATOLL_TOKEN), under Node, Deno and Bun (devDependencies).
 *
 * A program that cannot pass on one side is listed in EXPECTED_DIFFERENCES (and in
 * docs/deno-compatibility.md): there the test asserts that it fails, with the failure it names, so
 * a fix shows up as a failing test to update, never as a silent skip.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { denoClientEnv } from "./e2e-helpers.js";

type Pass = "deno-client" | "atoll-node" | "atoll-deno" | "atoll-bun";
const ATOLL_PASSES: Pass[] = ["atoll-node", "atoll-deno", "atoll-bun"];

/** Why a program fails on a side, and what its failure output must show. */
interface ExpectedDifference {
  passes: Pass[];
  why: string;
  output: RegExp;
}

/**
 * The builder of `@deno/sandbox` 0.13.2 starts each chained call (`.stdout()`, `.noThrow()`,
 * `.text()`, …) from a fresh state, so what an earlier call set (signal, cwd, env) is gone by the
 * time the command is spawned. The client never sends the kill or the option: it would behave the
 * same against Deno's own service.
 */
const DENO_BUILDER_DROPS_STATE = "@deno/sandbox 0.13.2's builder drops state set before a later chained call";

const EXPECTED_DIFFERENCES: Record<string, ExpectedDifference[]> = {
  "07-kill-controller": [{ passes: ["deno-client"], why: DENO_BUILDER_DROPS_STATE, output: /AssertionError|Missing expected rejection/ }],
  "08-abort-signal": [{ passes: ["deno-client"], why: DENO_BUILDER_DROPS_STATE, output: /AssertionError[\s\S]*0 !== 143/ }],
  "24-sh-builder-env-cwd": [{ passes: ["deno-client"], why: DENO_BUILDER_DROPS_STATE, output: /AssertionError/ }],
  "26-expose-http": [
    {
      passes: ["deno-client"],
      why: "the client builds https://<domain>: a loopback exposure (this daemon) is http://<address>/<token>/; an https --expose-domain works (deno-wire-expose.itest.ts)",
      output: /NOT_SUPPORTED|Failed to expose HTTP: 501/,
    },
  ],
};

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PROGRAMS = `${HERE}deno-corpus/`;
const REWRITTEN = `${HERE}deno-corpus-atoll/`;
const BIN = fileURLToPath(new URL("../../../../node_modules/.bin/", import.meta.url));
const DENO_IMPORT = /from "@deno\/sandbox";/g;

const programs = readdirSync(PROGRAMS)
  .filter((f) => f.endsWith(".js"))
  .sort()
  .map((f) => f.slice(0, -3));

function command(pass: Pass, name: string): [string, string[]] {
  const rewritten = `${REWRITTEN}${name}.js`;
  switch (pass) {
    case "deno-client":
      return [process.execPath, [`${PROGRAMS}${name}.js`]];
    case "atoll-node":
      return [process.execPath, [rewritten]];
    case "atoll-deno":
      return [`${BIN}deno`, ["run", "--allow-all", "--no-lock", rewritten]];
    case "atoll-bun":
      return [`${BIN}bun`, ["run", rewritten]];
  }
}

interface Run {
  ok: boolean;
  output: string;
}

let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon();
  // The Atoll variant of each program: the same text, only its import line changed.
  rmSync(REWRITTEN, { recursive: true, force: true });
  mkdirSync(REWRITTEN);
  for (const name of programs) {
    const text = readFileSync(`${PROGRAMS}${name}.js`, "utf8");
    assert.equal(text.match(DENO_IMPORT)?.length, 1, `${name} imports "@deno/sandbox" on exactly one line`);
    writeFileSync(`${REWRITTEN}${name}.js`, text.replace(DENO_IMPORT, 'from "atoll";').replace(/^\/\/# sourceMappingURL=.*$/m, ""));
  }
});
after(async () => {
  rmSync(REWRITTEN, { recursive: true, force: true });
  await daemon?.dispose();
});

function run(pass: Pass, name: string): Promise<Run> {
  const [file, args] = command(pass, name);
  const env = {
    ...process.env,
    ATOLL_URL: daemon.url,
    ATOLL_TOKEN: daemon.token,
    ...denoClientEnv(daemon),
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
  };
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 180_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, output: `${stdout}${stderr}${err && !("code" in err) ? err.message : ""}` });
    });
  });
}

test("the corpus has at least 25 programs", () => {
  assert.ok(programs.length >= 25, `${programs.length} programs`);
});

for (const pass of ["deno-client", ...ATOLL_PASSES] as Pass[]) {
  describe(`deno corpus, ${pass}`, { concurrency: 3 }, () => {
    for (const name of programs) {
      const expected = EXPECTED_DIFFERENCES[name]?.find((d) => d.passes.includes(pass));
      const title = expected ? `${name} fails as expected (${expected.why})` : name;
      test(title, async () => {
        const result = await run(pass, name);
        if (!expected) {
          assert.ok(result.ok, `${name} under ${pass} failed:\n${result.output}`);
          return;
        }
        assert.equal(result.ok, false, `${name} under ${pass} now passes: remove it from EXPECTED_DIFFERENCES and docs/deno-compatibility.md`);
        assert.match(result.output, expected.output);
      });
    }
  });
}
