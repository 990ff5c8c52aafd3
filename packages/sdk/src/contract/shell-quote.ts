/**
 * POSIX sh quoting for `sandbox.sh`. Values are bare only when every character is in
 * `[A-Za-z0-9_@%+=:,./-]`; otherwise they are single-quoted with `'` written as `'"'"'`.
 * Never emits bash-only `$'…'`, so the result means the same to dash, bash, busybox sh and zsh.
 */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for POSIX sh. @example quoteShellArg("it's") === `'it'"'"'s'` */
export function quoteShellArg(value: string): string {
  if (BARE.test(value)) return value;
  return `'${value.replace(/'/g, `'"'"'`)}'`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "object" && typeof (value as { then?: unknown }).then === "function") {
    return "a promise (await it first)";
  }
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Turns one interpolated value into shell words; throws a TypeError naming the position. */
function interpolate(value: unknown, position: number, inArray: boolean): string {
  const where = `sh: interpolated value #${position + 1}${inArray ? " (inside an array)" : ""}`;
  if (typeof value === "string") {
    if (value.includes("\0")) throw new TypeError(`${where} contains a NUL byte, which no shell argument can hold`);
    return quoteShellArg(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${where} is ${value}, not a finite number`);
    return quoteShellArg(String(value));
  }
  if (typeof value === "bigint" || typeof value === "boolean") return quoteShellArg(String(value));
  if (Array.isArray(value) && !inArray) {
    return value.map((item) => interpolate(item, position, true)).join(" ");
  }
  throw new TypeError(
    `${where} is ${describe(value)}; only strings, numbers, booleans, bigints and arrays of them can be interpolated`,
  );
}

/**
 * Builds the script of a `sh` tagged template: literal parts verbatim, every interpolated value
 * quoted; arrays become several arguments.
 *
 * @example buildShellScript(["ls ", ""], [["a b", "c"]]) === "ls 'a b' c"
 */
export function buildShellScript(strings: readonly string[], values: readonly unknown[]): string {
  let script = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    script += interpolate(values[i], i, false) + (strings[i + 1] ?? "");
  }
  return script;
}
