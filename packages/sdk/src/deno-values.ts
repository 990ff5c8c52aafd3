/**
 * Values crossing between a Deno REPL in a sandbox and the program (`sandbox.deno.eval`,
 * `repl.eval`, `repl.call`): JSON with tags for what JSON cannot hold — undefined, NaN, ±Infinity,
 * -0, BigInt, Date, RegExp, Map, Set, Uint8Array, errors — and plain objects wrapped so a user
 * object with a `$` key is never mistaken for a tag. Instances of other classes arrive as plain
 * objects of their own enumerable properties (as Deno Sandbox returns them); functions and
 * symbols cannot cross, and neither can a value that contains itself.
 *
 * Both functions are self-contained (no imports, no outer variables): the REPL driver that runs
 * in the sandbox embeds their source text (deno-repl-driver.ts), so the two sides cannot drift.
 */

/** The wire form of a value (JSON). */
export type EncodedValue = null | boolean | string | number | EncodedValue[] | { $: string; [key: string]: unknown };

/**
 * @example encodeValue(new Map([["a", 1n]])) // { $: "m", v: [["a", { $: "b", v: "1" }]] }
 */
export function encodeValue(value: unknown): EncodedValue {
  const seen = new Set<object>();
  const enc = (v: unknown): EncodedValue => {
    if (v === undefined) return { $: "u" };
    if (v === null || typeof v === "boolean" || typeof v === "string") return v;
    if (typeof v === "number") return Number.isFinite(v) && !Object.is(v, -0) ? v : { $: "n", v: Object.is(v, -0) ? "-0" : String(v) };
    if (typeof v === "bigint") return { $: "b", v: v.toString() };
    if (typeof v === "function" || typeof v === "symbol") throw new TypeError(`a ${typeof v} cannot be sent between the sandbox and the program`);
    const o = v as object;
    if (seen.has(o)) throw new TypeError("a value that contains itself cannot be sent between the sandbox and the program");
    seen.add(o);
    try {
      if (o instanceof Date) return { $: "d", v: o.getTime() };
      if (o instanceof RegExp) return { $: "r", s: o.source, f: o.flags };
      if (o instanceof Map) return { $: "m", v: [...o].map(([k, x]) => [enc(k), enc(x)]) };
      if (o instanceof Set) return { $: "s", v: [...o].map((x) => enc(x)) };
      if (o instanceof Uint8Array) return { $: "U8", v: Array.from(o) };
      if (o instanceof Error) return { $: "e", name: o.name, message: o.message, stack: o.stack ?? "" };
      if (Array.isArray(o)) return o.map((x) => enc(x));
      const fields: Record<string, EncodedValue> = {};
      for (const [k, x] of Object.entries(o)) fields[k] = enc(x);
      return { $: "o", v: fields };
    } finally {
      seen.delete(o);
    }
  };
  return enc(value);
}

/**
 * @example decodeValue({ $: "d", v: 0 }) // new Date(0)
 */
export function decodeValue(encoded: unknown): unknown {
  const dec = (x: unknown): unknown => {
    if (x === null || typeof x !== "object") return x;
    if (Array.isArray(x)) return x.map((y) => dec(y));
    const t = x as { $?: unknown; v?: unknown; s?: unknown; f?: unknown; name?: unknown; message?: unknown; stack?: unknown };
    switch (t.$) {
      case "u":
        return undefined;
      case "n":
        return t.v === "-0" ? -0 : Number(t.v);
      case "b":
        return BigInt(String(t.v));
      case "d":
        return new Date(Number(t.v));
      case "r":
        return new RegExp(String(t.s), String(t.f));
      case "m":
        return new Map((t.v as unknown[][]).map(([k, y]) => [dec(k), dec(y)]));
      case "s":
        return new Set((t.v as unknown[]).map((y) => dec(y)));
      case "U8":
        return new Uint8Array(t.v as number[]);
      case "e": {
        const err = new Error(String(t.message));
        err.name = String(t.name);
        err.stack = String(t.stack);
        return err;
      }
      case "o": {
        const out: Record<string, unknown> = {};
        for (const [k, y] of Object.entries(t.v as Record<string, unknown>)) out[k] = dec(y);
        return out;
      }
      default:
        throw new TypeError(`not an encoded value: ${JSON.stringify(x).slice(0, 80)}`);
    }
  };
  return dec(encoded);
}
