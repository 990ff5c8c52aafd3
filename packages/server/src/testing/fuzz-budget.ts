/**
 * How long a property-based fuzz test runs. In the test suite: a fixed number of runs (quick,
 * reproducible from the seed fast-check prints on failure). Under `npm run fuzz`
 * (scripts/fuzz.sh sets ATOLL_FUZZ_SECONDS): each property runs for that many seconds instead.
 *
 * @example await fc.assert(fc.asyncProperty(arb, check), fuzzBudget(300));
 */
import { readFileSync, readdirSync } from "node:fs";

export function fuzzBudget(runs: number): { numRuns: number; interruptAfterTimeLimit?: number; markInterruptAsFailure?: boolean } {
  const seconds = Number(process.env.ATOLL_FUZZ_SECONDS ?? 0);
  if (!(seconds > 0)) return { numRuns: runs };
  return { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false };
}

/** The seed inputs of one fuzz target: the files of packages/server/fuzz/corpus/<target>/. */
export function fuzzCorpus(target: string): Buffer[] {
  const dir = new URL(`../../fuzz/corpus/${target}/`, import.meta.url);
  return readdirSync(dir)
    .sort()
    .map((name) => readFileSync(new URL(name, dir)));
}
