// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${…}" here is shell input to quote, kept literal
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { buildShellCommand, buildShellScript, quoteShellArg } from "./shell-quote.js";
import { secret } from "./shell-secret.js";

const AWKWARD = [
  "",
  " ",
  "plain",
  "a b",
  "it's",
  "'",
  "''",
  `"`,
  `a"b'c`,
  "$HOME",
  "${HOME}",
  "`id`",
  "$(id)",
  "\\",
  "\\n",
  "\n",
  "a\nb",
  "tab\there",
  "*",
  "?",
  "[a]",
  "~",
  "~root",
  "-n",
  "--",
  "-e",
  "é",
  "emoji 🙂",
  "!",
  "!!",
  "#",
  "a#b",
  "{a,b}",
  ";",
  "&",
  "|",
  ">",
  "<",
  "\x01",
  "\x7f",
  "a=b",
  "@%+=:,./-",
  "x".repeat(5000),
  "'\"'\"'",
];

/** Runs `printf '%s\0' <values>` in a real shell and returns the arguments it saw. */
function roundTrip(shell: "sh" | "bash", values: unknown[]): string[] {
  const strings = ["printf '%s\\0' ", ...values.slice(1).map(() => " "), ""];
  const script = buildShellScript(strings, values);
  const out = execFileSync(shell, ["-c", script], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

for (const shell of ["sh", "bash"] as const) {
  test(`every awkward value survives ${shell} -c unchanged`, () => {
    for (const value of AWKWARD) {
      assert.deepEqual(roundTrip(shell, [value]), [value], `value ${JSON.stringify(value)}`);
    }
  });

  test(`arrays become several arguments in ${shell}`, () => {
    assert.deepEqual(roundTrip(shell, [["a b", "c", "it's"], 42]), ["a b", "c", "it's", "42"]);
    // An empty array adds no argument at all.
    assert.deepEqual(roundTrip(shell, [[], "x"]), ["x"]);
  });
}

test("safe values stay bare, others are single-quoted, never $'…'", () => {
  assert.equal(quoteShellArg("abc/def-1.txt"), "abc/def-1.txt");
  assert.equal(quoteShellArg("user@host:8080,a+b=c%"), "user@host:8080,a+b=c%");
  assert.equal(quoteShellArg("a b"), "'a b'");
  assert.equal(quoteShellArg("it's"), `'it'"'"'s'`);
  assert.equal(quoteShellArg(""), "''");
  for (const v of AWKWARD) assert.ok(!quoteShellArg(v).startsWith("$'"));
});

test("numbers, bigints and booleans are interpolated as text", () => {
  assert.equal(buildShellScript(["echo ", " ", " ", ""], [1.5, 10n, true]), "echo 1.5 10 true");
});

test("null, undefined, objects, promises, NaN and NUL throw a TypeError naming the position", () => {
  const cases: [unknown, RegExp][] = [
    [null, /#2 is null/],
    [undefined, /#2 is undefined/],
    [{ a: 1 }, /#2 is an object/],
    [Promise.resolve("x"), /#2 is a promise/],
    [Number.NaN, /#2 is NaN/],
    ["a\0b", /#2 contains a NUL/],
    [[["nested"]], /#2 \(inside an array\) is an array/],
    [Symbol("s"), /#2 is a symbol/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => buildShellScript(["echo ", " ", ""], ["ok", value]),
      (err: unknown) => err instanceof TypeError && message.test(err.message),
    );
  }
});

test("secret() values reach the command unchanged but never its text", () => {
  const value = `Bearer it's "$HOME" \`id\` a b`;
  const { script, env } = buildShellCommand(["printf '%s\\0' ", " ", " x", ""], [secret(value), [secret("two"), "plain"], secret("3")]);
  assert.equal(script, `printf '%s\\0' "$ATOLL_SH_SECRET_0" "$ATOLL_SH_SECRET_1" plain x"$ATOLL_SH_SECRET_2"`);
  assert.deepEqual(env, { ATOLL_SH_SECRET_0: value, ATOLL_SH_SECRET_1: "two", ATOLL_SH_SECRET_2: "3" });
  for (const shell of ["sh", "bash"]) {
    const out: string = execFileSync(shell, ["-c", script], { encoding: "utf8", env: { ...process.env, ...env } });
    assert.deepEqual(out.split("\0").slice(0, -1), [value, "two", "plain", "x3"], shell);
  }
  assert.equal(String(secret("x")), "[secret]");
  assert.equal(JSON.stringify({ s: secret("x") }), '{"s":"[secret]"}');
  assert.throws(() => secret("a\0b"), TypeError);
  assert.throws(() => buildShellScript(["echo ", ""], [secret("x")]), /buildShellCommand/);
});
