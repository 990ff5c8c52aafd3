/**
 * POSIX sh quoting for `sandbox.sh`. Values are bare only when every character is in
 * `[A-Za-z0-9_@%+=:,./-]`; otherwise they are single-quoted with `'` written as `'"'"'`.
 * Never emits bash-only `$'…'`, so the result means the same to dash, bash, busybox sh and zsh.
 */
import { ShellSecret, secretValue, secretVariable } from "./shell-secret.js";

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

/** Turns one interpolated value into shell words; throws a TypeError naming the position. Secrets go to `env`. */
function interpolate(value: unknown, position: number, inArray: boolean, env: Record<string, string>): string {
  const where = `sh: interpolated value #${position + 1}${inArray ? " (inside an array)" : ""}`;
  if (value instanceof ShellSecret) {
    const name = secretVariable(Object.keys(env).length);
    env[name] = secretValue(value);
    return `"$${name}"`;
  }
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
    return value.map((item) => interpolate(item, position, true, env)).join(" ");
  }
  throw new TypeError(`${where} is ${describe(value)}; only strings, numbers, booleans, bigints and arrays of them can be interpolated`);
}

/**
 * Builds the script of a `sh` tagged template: literal parts verbatim, every interpolated value
 * quoted; arrays become several arguments; `secret()` values become `"$ATOLL_SH_SECRET_<n>"`
 * references, their values in `env`.
 *
 * @example buildShellCommand(["echo ", ""], [secret("s3cr3t")]) // { script: 'echo "$ATOLL_SH_SECRET_0"', env: { ATOLL_SH_SECRET_0: "s3cr3t" } }
 */
export function buildShellCommand(strings: readonly string[], values: readonly unknown[]): { script: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  let script = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    script += interpolate(values[i], i, false, env) + (strings[i + 1] ?? "");
  }
  return { script, env };
}

/**
 * Builds the script of a `sh` tagged template: literal parts verbatim, every interpolated value
 * quoted; arrays become several arguments. No `secret()` values (use buildShellCommand).
 *
 * @example buildShellScript(["ls ", ""], [["a b", "c"]]) === "ls 'a b' c"
 */
export function buildShellScript(strings: readonly string[], values: readonly unknown[]): string {
  const { script, env } = buildShellCommand(strings, values);
  if (Object.keys(env).length > 0) throw new TypeError("buildShellScript cannot carry secret() values; use buildShellCommand");
  return script;
}
