/**
 * How a doctor report reads: one line per check for people (✔ ⚠ ✘ with the fix on the same
 * line), JSON for programs, and the single line the daemon prints when a start-up check fails.
 */
import type { CheckResult, CheckStatus } from "./check-types.js";
import type { DoctorReport } from "./doctor.js";

const MARK: Record<CheckStatus, string> = { ok: "✔", warn: "⚠", fail: "✘", skip: "-" };

/** One line: `✘ bubblewrap        bwrap is not installed → fix: apt-get install bubblewrap`. */
export function formatCheck(r: CheckResult, width = 18): string {
  return `${MARK[r.status]} ${r.title.padEnd(width)} ${r.detail}${r.fix && r.status !== "ok" && r.status !== "skip" ? ` → fix: ${r.fix}` : ""}`;
}

/** The whole report for a terminal, ending with a verdict line. */
export function formatReport(report: DoctorReport, where: string): string {
  const width = Math.max(...report.checks.map((c) => c.title.length));
  const count = (s: CheckStatus) => report.checks.filter((c) => c.status === s).length;
  const failed = count("fail");
  const warned = count("warn");
  const tally = `${count("ok")} ok, ${warned} warning${warned === 1 ? "" : "s"}, ${failed} failed${count("skip") ? `, ${count("skip")} skipped` : ""} (${report.durationMs} ms)`;
  const verdict =
    failed > 0
      ? `✘ the daemon cannot run on this host: fix the ✘ lines above. ${tally}`
      : `✔ this host can run the Atoll daemon${warned ? " (see the ⚠ lines)" : ""}. ${tally}`;
  return [`atoll doctor: ${where}`, ...report.checks.map((c) => formatCheck(c, width)), verdict, ""].join("\n");
}

/** The report for programs (`atoll doctor --json`). */
export function reportJson(report: DoctorReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * The one line a daemon start prints when checks failed: the first failure in full, the others
 * by name. `bubblewrap: bwrap is not installed → fix: apt-get install bubblewrap`.
 */
export function failureLine(failed: readonly CheckResult[]): string {
  const [first, ...rest] = failed;
  if (!first) return "";
  const head = `${first.title}: ${first.detail}${first.fix ? ` → fix: ${first.fix}` : ""}`;
  return rest.length === 0 ? head : `${head} (and ${rest.map((r) => r.title).join(", ")}: run atoll doctor for every fix)`;
}
