/**
 * The standing attack suite's report (docs/security.md): every attack test records one row per
 * attempt here. Rows are printed as a table by the test that made them and appended to
 * `test-results/attacks.jsonl`, which `scripts/run-tests.sh` prints as one table at the end of
 * `npm test`.
 *
 * A row must say what the attack expected to see if the defence holds (`expected`, e.g.
 * "EPERM" or "daemon still serving") and what it saw (`observed`); `held` is the test's own
 * verdict, and the test must also assert it.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export interface AttackRow {
  /** Which item of the threat model (docs/security.md), e.g. "channel", "disk", "netd". */
  area: string;
  /** What the attacker did, in a few words. */
  attack: string;
  /** Who attacked: "app", "root" (sandbox root), "tenant", "page", "host user", … */
  as: string;
  /** What a holding defence looks like. */
  expected: string;
  /** What the test saw. */
  observed: string;
  held: boolean;
}

const RESULTS_DIR = process.env.ATOLL_TEST_RESULTS ?? join(process.cwd(), "test-results");

/** Prints `rows` as a table under `title` and appends them to test-results/attacks.jsonl. */
export function reportAttacks(title: string, rows: readonly AttackRow[]): void {
  console.log(`\n${title}`);
  console.table(rows.map((r) => ({ ...r, held: r.held ? "held" : "BROKEN" })));
  try {
    mkdirSync(RESULTS_DIR, { recursive: true });
    appendFileSync(join(RESULTS_DIR, "attacks.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length > 0 ? "\n" : ""));
  } catch {
    /* the table above is the record; a read-only results dir must not fail the test */
  }
}

/** Rows whose defence did not hold, as readable lines (for `assert.deepEqual(broken(rows), [])`). */
export function broken(rows: readonly AttackRow[]): string[] {
  return rows.filter((r) => !r.held).map((r) => `${r.area}: ${r.attack} as ${r.as}: expected ${r.expected}, saw ${r.observed}`);
}
