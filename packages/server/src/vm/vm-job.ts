/** The job file the test:vm host writes for its guest, and the summary line it reads back. */

/** `KEY='value'` lines for bash (`set -a; . job.env`), every value single-quoted. */
export function formatJobEnv(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad job variable name ${k}`);
      return `${k}='${v.replaceAll("'", `'\\''`)}'\n`;
    })
    .join("");
}

/** The last "N passed, N failed" line of the guest's console (scripts/run-tests.sh prints it last). */
export function parseSummary(lines: readonly string[]): { passed: number; failed: number } | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(\d+) passed, (\d+) failed$/.exec(lines[i]!.trim());
    if (m) return { passed: Number(m[1]), failed: Number(m[2]) };
  }
  return undefined;
}
