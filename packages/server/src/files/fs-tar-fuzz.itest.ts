/**
 * A short run of the libFuzzer targets of atoll-fs's tar reader, writer and extractor
 * (packages/server/fuzz, docs/security.md "Fuzzing"): first every input of the repo's corpus
 * (crashes found before and escape attempts included), then ATOLL_FUZZ_SECONDS (default 20) of
 * fuzzing each. A crash, a sanitizer report, a broken round trip or a file written outside the
 * extraction directory fails the test. Needs clang-14 with libclang-rt-14-dev (`scripts/setup.sh
 * --test` installs them); without them the test is skipped. `npm run fuzz` runs the long version.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const fuzzDir = fileURLToPath(new URL("../../fuzz/", import.meta.url));
const seconds = Number(process.env.ATOLL_FUZZ_SECONDS ?? 20);

async function clangWithFuzzer(): Promise<boolean> {
  const probe = await mkdtemp(join(tmpdir(), "atoll-fuzz-probe-"));
  try {
    const src = join(probe, "t.c");
    await writeFile(src, "int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n");
    const clang = (await run("sh", ["-c", "command -v clang-14 || command -v clang"])).stdout.trim();
    await run(clang, ["-fsanitize=fuzzer,address,undefined", "-o", join(probe, "t"), src]);
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

for (const target of ["tar-read", "tar-write", "tar-extract"]) {
  test(`libFuzzer ${target}: the corpus, then ${seconds} s of fuzzing, find no failure`, { timeout: (seconds + 300) * 1000 }, async (t) => {
    if (!(await clangWithFuzzer())) return t.skip("clang-14 with libFuzzer is not installed (scripts/setup.sh --test installs it)");
    await run("make", ["-s", "-C", fuzzDir]);
    const binary = join(fuzzDir, "build", target);
    const corpus = join(fuzzDir, "corpus", target);
    const work = await mkdtemp(join(tmpdir(), `atoll-fuzz-${target}-`));
    try {
      const inputs = (await readdir(corpus)).map((f) => join(corpus, f));
      assert.ok(inputs.length > 0, "the corpus has seeds");
      // Replays each input once (the regress-* ones crashed the code before its fix).
      // tar-extract makes its trees under TMPDIR: under `work`, removed below whatever happens.
      const opts = { maxBuffer: 64 << 20, env: { ...process.env, TMPDIR: work } };
      await run(binary, inputs, opts);
      // New inputs go to a temporary directory: the repo's corpus is only read.
      const found = join(work, "found");
      await mkdir(found);
      const fuzz = await run(binary, [`-max_total_time=${seconds}`, `-artifact_prefix=${work}/`, found, corpus], opts).catch((err: { stderr?: string }) =>
        assert.fail(
          `${target} found a failure:\n${(err.stderr ?? "")
            .split("\n")
            .filter((l) => /ERROR|SUMMARY|#\d+ in /.test(l))
            .slice(0, 20)
            .join("\n")}`,
        ),
      );
      const done = /Done (\d+) runs/.exec(fuzz.stderr);
      assert.ok(done && Number(done[1]) > 0, "libFuzzer ran");
      t.diagnostic(`${target}: ${done[1]} runs in ${seconds} s`);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}
