/**
 * What the router's nftables table holds for each sandbox, read back from the host
 * (`nft -j list table`): a new daemon adopting a previous run's sandboxes rebuilds from it what the
 * old daemon held in memory (addresses admitted per sandbox, the seq numbers in use), and removes
 * the chains, sets and dispatch entries of sandboxes nobody adopted.
 */
import type { CommandRunner } from "../host/run-command.js";
import { nsRun } from "./netns-ops.js";
import { type PortRange, TABLE } from "./nft-ruleset.js";
import { unionRanges } from "./port-ranges.js";

/** One sandbox's objects in the table, by seq. */
export interface SeqState {
  seq: number;
  /** Addresses admitted (sets l4_/l6_), with their ports. */
  learned: Map<string, PortRange[]>;
  /** Addresses intercepted (sets i4_/i6_). */
  intercepted: Set<string>;
  /** Dispatch map entries (fwd4/fwd6/nat4/nat6) pointing at its chains: map name → keys. */
  dispatch: { map: string; key: string }[];
  sets: string[];
  chains: string[];
}

type Json = Record<string, unknown>;

/** Seq of a per-sandbox chain name (f<seq>, n<seq>). */
function chainSeq(name: string | undefined): number | undefined {
  const m = /^[fn](\d+)$/.exec(name ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Port range of one element's port part: 22 or { range: [1000, 2000] }. */
function portPart(p: unknown): PortRange | undefined {
  if (typeof p === "number") return [p, p];
  const r = (p as { range?: unknown })?.range;
  if (Array.isArray(r) && typeof r[0] === "number" && typeof r[1] === "number") return [r[0], r[1]];
  return undefined;
}

/** Element value, unwrapping `{ elem: { val } }` (elements with timeouts or comments). */
function unwrap(e: unknown): unknown {
  const inner = (e as { elem?: { val?: unknown } })?.elem;
  return inner && "val" in inner ? inner.val : e;
}

/**
 * Parses `nft -j list table inet atoll` into per-seq state.
 *
 * @example parseTable(json).get(3)?.learned.get("203.0.113.7") // [[22, 22]]
 */
export function parseTable(json: string): Map<number, SeqState> {
  const out = new Map<number, SeqState>();
  const state = (seq: number): SeqState => {
    const s = out.get(seq) ?? { seq, learned: new Map(), intercepted: new Set(), dispatch: [], sets: [], chains: [] };
    out.set(seq, s);
    return s;
  };
  const items = ((JSON.parse(json) as { nftables?: Json[] }).nftables ?? []) as Json[];
  for (const item of items) {
    if (item.chain) {
      const name = String((item.chain as Json).name);
      const seq = chainSeq(name);
      if (seq !== undefined) state(seq).chains.push(name);
    } else if (item.map) {
      const m = item.map as Json;
      if (!/^(fwd|nat)[46]$/.test(String(m.name))) continue;
      for (const e of (m.elem as unknown[]) ?? []) {
        const [key, verdict] = e as [unknown, { jump?: { target?: string } }];
        const target = verdict?.jump?.target;
        const seq = chainSeq(target);
        if (seq !== undefined && typeof key === "string") state(seq).dispatch.push({ map: String(m.name), key });
      }
    } else if (item.set) {
      const set = item.set as Json;
      const name = String(set.name);
      const m = /^([clin])([46])_(\d+)$/.exec(name);
      if (!m) continue;
      const s = state(Number(m[3]));
      s.sets.push(name);
      for (const raw of (set.elem as unknown[]) ?? []) {
        const e = unwrap(raw);
        if (m[1] === "i" && typeof e === "string") s.intercepted.add(e);
        if (m[1] !== "l") continue;
        const concat = (e as { concat?: unknown[] })?.concat;
        const address = concat?.[0];
        const ports = portPart(concat?.[1]);
        if (typeof address !== "string" || !ports) continue;
        s.learned.set(address, unionRanges(s.learned.get(address) ?? [], [ports]));
      }
    }
  }
  return out;
}

/** Reads the router's table; an empty map when it does not exist. */
export async function readTable(runner: CommandRunner, routerNs: string): Promise<Map<number, SeqState>> {
  const { stdout } = await nsRun(runner, routerNs, "nft", ["-j", "list", "table", "inet", TABLE]);
  return parseTable(stdout);
}

/** Deletes everything of one seq (dispatch entries first: a chain in use cannot go). */
export function dropSeqScript(s: SeqState): string {
  const t = `inet ${TABLE}`;
  return (
    s.dispatch.map((d) => `delete element ${t} ${d.map} { ${d.key} }\n`).join("") +
    s.chains.map((c) => `flush chain ${t} ${c}\n`).join("") +
    s.chains.map((c) => `delete chain ${t} ${c}\n`).join("") +
    s.sets.map((n) => `delete set ${t} ${n}\n`).join("")
  );
}
