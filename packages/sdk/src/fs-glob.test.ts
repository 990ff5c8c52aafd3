import assert from "node:assert/strict";
import { test } from "node:test";
import { globBase, globMatcher } from "./fs-glob.js";

const m = (glob: string, path: string, ci = false) => globMatcher(glob, ci)(path);

test("globBase: the fixed prefix to walk from and how deep", () => {
  assert.deepEqual(globBase("/home/app/src/*.ts"), { base: "/home/app/src", maxDepth: 1 });
  assert.deepEqual(globBase("/home/app/src/**/*.ts"), { base: "/home/app/src", maxDepth: Infinity });
  assert.deepEqual(globBase("/a/b/c.txt"), { base: "/a/b/c.txt", maxDepth: 0 });
  assert.deepEqual(globBase("/*/x"), { base: "/", maxDepth: 2 });
  assert.deepEqual(globBase("/a/{x,**/y}"), { base: "/a", maxDepth: Infinity }, "** inside braces");
  assert.deepEqual(globBase("/a/\\*lit/y"), { base: "/a", maxDepth: 2 }, "an escaped segment is matched, not walked to by name");
});

test("globMatcher: *, ?, classes, braces, ** and hidden names", () => {
  assert.ok(m("/src/*.ts", "/src/a.ts"));
  assert.ok(!m("/src/*.ts", "/src/a/b.ts"));
  assert.ok(!m("/src/*.ts", "/src/.hidden.ts"));
  assert.ok(m("/src/.*.ts", "/src/.hidden.ts"));
  assert.ok(m("/src/**/*.ts", "/src/a.ts"));
  assert.ok(m("/src/**/*.ts", "/src/a/b/c.ts"));
  assert.ok(!m("/src/**/*.ts", "/src/a/b/c.js"));
  assert.ok(!m("/src/**/*.ts", "/src/.git/c.ts"), "** does not enter hidden directories");
  assert.ok(m("/src/**", "/src"));
  assert.ok(m("/src/**", "/src/x/y"));
  assert.ok(!m("/src/**", "/src/.git/x"), "a trailing ** skips hidden names too");
  assert.ok(m("/f?o", "/foo") && !m("/f?o", "/fo/o"));
  assert.ok(m("/[ab]x", "/ax") && !m("/[ab]x", "/cx") && m("/[!ab]x", "/cx") && !m("/[!ab]x", "/ax") && m("/[^ab]x", "/cx"));
  assert.ok(m("/*.{js,ts}", "/a.ts") && m("/*.{js,ts}", "/a.js") && !m("/*.{js,ts}", "/a.md"));
  assert.ok(m("/A.TS", "/a.ts", true) && !m("/A.TS", "/a.ts"));
});

test("globMatcher: nested braces", () => {
  const g = "/src/{a,{b,c}x}.ts";
  assert.ok(m(g, "/src/a.ts") && m(g, "/src/bx.ts") && m(g, "/src/cx.ts"));
  assert.ok(!m(g, "/src/b.ts") && !m(g, "/src/ax.ts") && !m(g, "/src/{b,c}x.ts"));
  assert.ok(m("/{x,y/{p,q}}/f", "/y/q/f") && !m("/{x,y/{p,q}}/f", "/x/p/f"), "braces across directories");
  assert.ok(m("/f{1..3}", "/f2") && !m("/f{1..3}", "/f4"));
});

test("globMatcher: \\ escapes make a wildcard literal", () => {
  assert.ok(m("/a\\*b", "/a*b") && !m("/a\\*b", "/axb"));
  assert.ok(m("/a\\?", "/a?") && !m("/a\\?", "/ab"));
  assert.ok(m("/a\\{b,c\\}", "/a{b,c}") && !m("/a\\{b,c\\}", "/ab"));
  assert.ok(m("/\\[x]", "/[x]") && !m("/\\[x]", "/x"));
  assert.ok(m("/*\\*", "/note*") && !m("/*\\*", "/note"));
});

test("globMatcher: regular-expression characters, parentheses and | are literal", () => {
  assert.ok(m("/a+b(c)", "/a+b(c)") && !m("/a+b(c)", "/a+bc"));
  assert.ok(m("/report*(1).pdf", "/report (1).pdf") && !m("/report*(1).pdf", "/report 1.pdf"));
  assert.ok(m("/a|b", "/a|b") && !m("/a|b", "b") && !m("/a|b", "/a"));
  assert.ok(m("/a$b^c.d", "/a$b^c.d") && !m("/a.b", "/axb"));
  assert.ok(m("/a@(b)", "/a@(b)") && !m("/a@(b)", "/ab"), "no extglobs");
  assert.ok(m("/a{b", "/a{b") && m("/a[b", "/a[b"), "an unclosed { or [ is literal");
});
