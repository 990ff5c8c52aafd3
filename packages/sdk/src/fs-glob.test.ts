import assert from "node:assert/strict";
import { test } from "node:test";
import { globBase, globToRegExp } from "./fs-glob.js";

test("globBase: the fixed prefix to walk from and how deep", () => {
  assert.deepEqual(globBase("/home/app/src/*.ts"), { base: "/home/app/src", maxDepth: 1 });
  assert.deepEqual(globBase("/home/app/src/**/*.ts"), { base: "/home/app/src", maxDepth: Infinity });
  assert.deepEqual(globBase("/a/b/c.txt"), { base: "/a/b/c.txt", maxDepth: 0 });
  assert.deepEqual(globBase("/*/x"), { base: "/", maxDepth: 2 });
});

test("globToRegExp: *, ?, classes, braces, ** and hidden names", () => {
  const m = (glob: string, path: string, ci = false) => globToRegExp(glob, ci).test(path);
  assert.ok(m("/src/*.ts", "/src/a.ts"));
  assert.ok(!m("/src/*.ts", "/src/a/b.ts"));
  assert.ok(!m("/src/*.ts", "/src/.hidden.ts"));
  assert.ok(m("/src/.*.ts", "/src/.hidden.ts"));
  assert.ok(m("/src/**/*.ts", "/src/a.ts"));
  assert.ok(m("/src/**/*.ts", "/src/a/b/c.ts"));
  assert.ok(!m("/src/**/*.ts", "/src/a/b/c.js"));
  assert.ok(m("/src/**", "/src"));
  assert.ok(m("/src/**", "/src/x/y"));
  assert.ok(m("/f?o", "/foo") && !m("/f?o", "/fo/o"));
  assert.ok(m("/[ab]x", "/ax") && !m("/[ab]x", "/cx") && m("/[!ab]x", "/cx"));
  assert.ok(m("/*.{js,ts}", "/a.ts") && m("/*.{js,ts}", "/a.js") && !m("/*.{js,ts}", "/a.md"));
  assert.ok(m("/A.TS", "/a.ts", true) && !m("/A.TS", "/a.ts"));
  assert.ok(m("/a+b(c)", "/a+b(c)"), "regex characters are literal");
});
