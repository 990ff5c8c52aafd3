/**
 * Secret substitution (docs/network.md, "Secrets"). Toward a secret's hosts the proxy replaces
 * the placeholder with the value in the request target (path and query) and in request header
 * values; it never touches request bodies. On the way back it replaces the value with the
 * placeholder in response headers and bodies, so an echoing server cannot hand the value to the
 * sandbox.
 */
import { Transform, type TransformCallback } from "node:stream";
import type { SecretRule } from "./policy-match.js";

type Direction = "to-host" | "to-sandbox";

function pairs(secrets: readonly SecretRule[], dir: Direction): [string, string][] {
  return secrets.map((s) => (dir === "to-host" ? [s.placeholder, s.value] : [s.value, s.placeholder]));
}

/** Replaces placeholders with values ("to-host") or values with placeholders ("to-sandbox"). */
export function substitute(text: string, secrets: readonly SecretRule[], dir: Direction): string {
  let out = text;
  for (const [from, to] of pairs(secrets, dir)) if (out.includes(from)) out = out.split(from).join(to);
  return out;
}

/**
 * Replaces each `from` with its `to` in a byte stream, across chunk boundaries (holds back the
 * last longest-`from`-minus-one bytes until more arrive).
 */
export class ReplaceStream extends Transform {
  private tail = Buffer.alloc(0);
  private readonly pairs: [Buffer, Buffer][];
  private readonly keep: number;

  constructor(secrets: readonly SecretRule[], dir: Direction) {
    super();
    this.pairs = pairs(secrets, dir).map(([f, t]) => [Buffer.from(f), Buffer.from(t)]);
    this.keep = Math.max(0, ...this.pairs.map(([f]) => f.length - 1));
  }

  /** Earliest match of any `from` at or after `pos`. */
  private nextMatch(buf: Buffer, pos: number): { at: number; pair: [Buffer, Buffer] } | undefined {
    let best: { at: number; pair: [Buffer, Buffer] } | undefined;
    for (const pair of this.pairs) {
      const at = buf.indexOf(pair[0], pos);
      if (at >= 0 && (!best || at < best.at)) best = { at, pair };
    }
    return best;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // `tail` holds raw (unreplaced) bytes, so replaced output is never scanned again.
    const raw = Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, raw.length - this.keep);
    const out: Buffer[] = [];
    let start = 0;
    for (let m = this.nextMatch(raw, 0); m && m.at < cut; m = this.nextMatch(raw, start)) {
      out.push(raw.subarray(start, m.at), m.pair[1]);
      start = m.at + m.pair[0].length;
    }
    const emitTo = Math.max(cut, start);
    out.push(raw.subarray(start, emitTo));
    this.tail = Buffer.from(raw.subarray(emitTo));
    const data = Buffer.concat(out);
    if (data.length > 0) this.push(data);
    done();
  }

  override _flush(done: TransformCallback): void {
    let start = 0;
    const out: Buffer[] = [];
    for (let m = this.nextMatch(this.tail, 0); m; m = this.nextMatch(this.tail, start)) {
      out.push(this.tail.subarray(start, m.at), m.pair[1]);
      start = m.at + m.pair[0].length;
    }
    out.push(this.tail.subarray(start));
    const data = Buffer.concat(out);
    if (data.length > 0) this.push(data);
    done();
  }
}
