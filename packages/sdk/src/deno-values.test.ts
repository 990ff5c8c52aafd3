import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeValue, encodeValue } from "./deno-values.js";
import { replDriverSource } from "./deno-repl-driver.js";

const roundTrip = (v: unknown) => decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));

test("values JSON cannot hold keep their types across", () => {
  const value = {
    n: 1,
    s: "x",
    u: undefined,
    nan: Number.NaN,
    inf: -Infinity,
    negZero: -0,
    big: 2n ** 70n,
    date: new Date(1234),
    re: /a+b/gi,
    map: new Map<unknown, unknown>([["k", new Set([1, "two"])]]),
    bytes: new Uint8Array([0, 255]),
    nested: [null, true, { $: "not a tag" }],
  };
  const back = roundTrip(value) as typeof value;
  assert.deepEqual(back, value);
  assert.ok(Object.is(back.negZero, -0));
  assert.ok(back.date instanceof Date && back.map instanceof Map && back.re instanceof RegExp);
});

test("class instances arrive as plain objects; errors keep name and message", () => {
  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  assert.deepEqual(roundTrip(new Point(1, 2)), { x: 1, y: 2 });
  const err = roundTrip(new RangeError("too far")) as Error;
  assert.equal(err.name, "RangeError");
  assert.equal(err.message, "too far");
});

test("functions, symbols and cycles cannot cross", () => {
  assert.throws(() => encodeValue(() => 1), /a function cannot be sent/);
  assert.throws(() => encodeValue({ s: Symbol("x") }), /a symbol cannot be sent/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeValue(cyclic), /contains itself/);
  const shared = { a: 1 };
  assert.deepEqual(roundTrip([shared, shared]), [{ a: 1 }, { a: 1 }], "the same object twice is not a cycle");
});

test("the REPL driver's source embeds both functions and parses as a module", async () => {
  const source = replDriverSource("tok");
  assert.match(source, /^const encodeValue = function encodeValue\(value\)/m);
  assert.match(source, /^const decodeValue = function decodeValue\(encoded\)/m);
  // It must at least be syntactically valid JavaScript (an async module body).
  assert.doesNotThrow(() => new Function(`return (async () => {\n${source.replace(/^await /m, "return ")}\n})`));
});
