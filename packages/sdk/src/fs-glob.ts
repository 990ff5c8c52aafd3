/**
 * Glob patterns for `expandGlob`, matched by picomatch (no dependencies, no Node APIs: it runs
 * on Deno and Bun as it is): `*`, `?`, `[abc]`/`[!abc]`/`[^abc]`, `{a,b}` (nested too, and
 * `{1..3}`), `**` (any number of directories) and `\` escapes (`\*` is a literal `*`). As in a
 * shell, wildcards do not match a leading "." of a name unless the pattern starts that name
 * with ".". Parentheses and `|` are literal, as in a shell (picomatch alone reads them as a
 * regular-expression group), so `report*(1).pdf` finds `report (1).pdf`.
 */
import picomatch from "picomatch";

const GLOB_CHARS = /[*?[{\\]/;

/** Splits an absolute glob into the directory to walk from and how deep to walk. */
export function globBase(absGlob: string): { base: string; maxDepth: number } {
  const segments = absGlob.split("/").filter((s) => s !== "");
  const fixed: string[] = [];
  for (const s of segments) {
    if (GLOB_CHARS.test(s)) break;
    fixed.push(s);
  }
  const rest = segments.slice(fixed.length);
  // `**` may also sit inside braces ({**/a,b}): any of it makes the walk unbounded.
  return { base: `/${fixed.join("/")}`, maxDepth: rest.some((s) => s.includes("**")) ? Infinity : rest.length };
}

/** Bare `(`, `)` and `|` escaped, escaped pairs (`\x`) kept as they are. */
function literalGroups(glob: string): string {
  return glob.replace(/\\.|[()|]/g, (m) => (m.length === 2 ? m : `\\${m}`));
}

/**
 * A test for whole absolute paths against an absolute glob. `/dir/**` matches `/dir` too.
 *
 * @example globMatcher("/src/**\/*.{ts,tsx}")("/src/a/b.ts") === true
 */
export function globMatcher(absGlob: string, caseInsensitive = false): (path: string) => boolean {
  // windows: false: `\` escapes on every host; posix: `[!…]` negates; noextglob: `+(…)` literal.
  return picomatch(literalGroups(absGlob), { windows: false, posix: true, noextglob: true, nocase: caseInsensitive });
}
