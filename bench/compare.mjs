/**
 * `npm run bench -- --save FILE` keeps a run's figures as JSON; `npm run bench -- --compare FILE`
 * prints every figure of this run next to the saved one, with the change. Latencies compare
 * their p50 (lower is better), throughputs and ratios their value (higher is better).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { round } from "./stats.mjs";

/** The value of `flag` in argv (`--flag VALUE`), or undefined. */
export function flagValue(argv, flag) {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (!value || value.startsWith("--")) throw new Error(`${flag} needs a file name`);
  return value;
}

/** One number per figure: p50 of a latency summary, else the value itself. */
function headline(value) {
  if (typeof value === "number") return value;
  if (value && typeof value === "object" && typeof value.p50 === "number") return value.p50;
  return undefined;
}

/**
 * Rows comparing `now` with `before` (both `results` maps of figure → value); `units` says which
 * figures are latencies (unit "ms": lower is better).
 */
export function compareResults(before, now, units) {
  const rows = [];
  for (const [figure, value] of Object.entries(now)) {
    const a = headline(before[figure]);
    const b = headline(value);
    if (b === undefined) continue;
    if (a === undefined || a === 0) {
      rows.push({ figure, before: a === undefined ? "—" : a, now: round(b), change: "new" });
      continue;
    }
    const pct = ((b - a) / a) * 100;
    const better = units[figure] === "ms" ? pct < 0 : pct > 0;
    const word = Math.abs(pct) < 5 ? "same" : better ? "better" : "worse";
    rows.push({ figure, before: round(a), now: round(b), change: `${pct >= 0 ? "+" : ""}${pct.toFixed(1)} % (${word})` });
  }
  for (const figure of Object.keys(before))
    if (!(figure in now)) rows.push({ figure, before: round(headline(before[figure]) ?? NaN), now: "—", change: "gone" });
  return rows;
}

/** Reads a saved run: the JSON `--save` wrote, or the JSON a run printed. */
export function readSaved(file) {
  const saved = JSON.parse(readFileSync(file, "utf8"));
  if (!saved || typeof saved.results !== "object") throw new Error(`${file} is not a saved bench run (no "results")`);
  return saved;
}

/** After a run: saves it and/or prints the comparison, as the command line asked. */
export function saveAndCompare(argv, run, units) {
  const compareFile = flagValue(argv, "--compare");
  if (compareFile) {
    const before = readSaved(compareFile);
    console.log(`\nchange against ${compareFile} (${before.at ?? "undated"}):`);
    console.table(compareResults(before.results, run.results, units));
  }
  const saveFile = flagValue(argv, "--save");
  if (saveFile) {
    writeFileSync(saveFile, `${JSON.stringify(run, null, 2)}\n`);
    console.log(`saved to ${saveFile}`);
  }
}
