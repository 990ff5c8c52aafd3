/**
 * What a new daemon reads from the host before it adopts the previous run's sandbox networks
 * (docs/network.md, "Daemon restarts"): which kept namespaces are this router's, their seq
 * numbers, the address numbers their routes hold, and the router's nftables state per seq.
 */
import path from "node:path";
import type { CommandRunner } from "../host/run-command.js";
import type { AddressPlan } from "./address-plan.js";
import { SANDBOX_IF_PREFIX } from "./nft-ruleset.js";
import { type SeqState, readTable } from "./nft-state.js";

/** The seq of a sandbox namespace `<router>-<run>-<seq>` of this router, else undefined. */
export function seqOfNetns(router: string, name: string): number | undefined {
  const m = new RegExp(`^${router}-[0-9a-f]{4}-(\\d{1,9})$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

const ipv4Int = (a: string): number => a.split(".").reduce((x, o) => x * 256 + Number(o), 0);

/** Sandbox number of an address pair in the plan (the inverse of plan.sandbox), else undefined. */
export function numberOf(plan: AddressPlan, ipv4: string, ipv6?: string): number | undefined {
  const n = ipv4Int(ipv4) - ipv4Int(plan.gateway4);
  if (!Number.isInteger(n) || n < 1 || n > plan.capacity) return undefined;
  const want = plan.sandbox(n);
  return want.ipv4 === ipv4 && (ipv6 === undefined || want.ipv6 === ipv6) ? n : undefined;
}

export interface HostNetState {
  /** Kept namespace names by seq. */
  kept: Map<number, string>;
  /** Address numbers routed to each kept seq's veth (reserved until adopted or dropped). */
  numbers: Map<number, number>;
  table: Map<number, SeqState>;
  /** Highest seq seen in names, interfaces or the table: new namespaces count on from it. */
  maxSeq: number;
}

/** Reads what the router holds for the kept namespaces. */
export async function readHostNetState(runner: CommandRunner, router: string, plan: AddressPlan, keep: readonly string[]): Promise<HostNetState> {
  const kept = new Map<number, string>();
  for (const p of keep) {
    const name = path.basename(p);
    const seq = seqOfNetns(router, name);
    if (seq !== undefined) kept.set(seq, name);
  }
  const table = await readTable(runner, router);
  const numbers = new Map<number, number>();
  const { stdout } = await runner.run("ip", ["-n", router, "-j", "-4", "route", "show"]);
  let maxSeq = Math.max(0, ...kept.keys(), ...table.keys());
  for (const r of JSON.parse(stdout || "[]") as { dst?: string; dev?: string }[]) {
    const m = new RegExp(`^${SANDBOX_IF_PREFIX}(\\d+)$`).exec(r.dev ?? "");
    if (!m) continue;
    const seq = Number(m[1]);
    maxSeq = Math.max(maxSeq, seq);
    const n = numberOf(plan, r.dst ?? "");
    if (kept.has(seq) && n !== undefined) numbers.set(seq, n);
  }
  return { kept, numbers, table, maxSeq };
}
