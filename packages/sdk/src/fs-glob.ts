/**
 * Glob patterns for `expandGlob`: `*`, `?`, `[abc]`/`[!abc]`, `{a,b}` and `**` (any number of
 * directories). As in a shell, wildcards do not match a leading "." of a name unless the
 * pattern starts that name with ".".
 */

const GLOB_CHARS = /[*?[{]/;

/** Splits an absolute glob into the directory to walk from and how deep to walk. */
export function globBase(absGlob: string): { base: string; maxDepth: number } {
  const segments = absGlob.split("/").filter((s) => s !== "");
  const fixed: string[] = [];
  for (const s of segments) {
    if (GLOB_CHARS.test(s)) break;
    fixed.push(s);
  }
  const rest = segments.slice(fixed.length);
  return { base: `/${fixed.join("/")}`, maxDepth: rest.includes("**") ? Infinity : rest.length };
}

function escape(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** One path segment of a glob as a regular expression source. */
function segmentSource(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = seg.slice(i + 1, close);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      out += `[${negate ? "^/" : ""}${body.replace(/\\/g, "\\\\").replace(/]/g, "\\]")}]`;
      i = close;
    } else if (c === "{") {
      const close = seg.indexOf("}", i);
      if (close < 0) {
        out += "\\{";
        continue;
      }
      out += `(?:${seg
        .slice(i + 1, close)
        .split(",")
        .map(segmentSource)
        .join("|")})`;
      i = close;
    } else out += escape(c);
  }
  return out;
}

/**
 * The regular expression an absolute glob matches whole paths with.
 *
 * @example globToRegExp("/src/**\/*.ts").test("/src/a/b.ts") === true
 */
export function globToRegExp(absGlob: string, caseInsensitive = false): RegExp {
  const segments = absGlob.split("/").filter((s) => s !== "");
  let source = "";
  segments.forEach((seg, i) => {
    if (seg === "**") {
      source += i === segments.length - 1 ? "(?:/[^/]+)*" : "(?:/(?!\\.)[^/]+)*";
      return;
    }
    const hidden = seg.startsWith(".") ? "" : "(?!\\.)";
    source += `/${GLOB_CHARS.test(seg) ? hidden : ""}${segmentSource(seg)}`;
  });
  return new RegExp(`^${source || "/"}/?$`, caseInsensitive ? "i" : "");
}
