/**
 * Sandbox ids as Deno's client spells them. `@deno/sandbox` 0.13.2 only connects to ids matching
 * `sbx_<region>_<20 of 0-9 a-h j k m n p-z>` (it reads the region out of the id), while Atoll's are
 * `sbx_<20 of a-z 2-7>`. The two are the same id in two spellings: the region is "atl" and the
 * three letters Deno's alphabet lacks (i, l, o) become 0, 1, 8, which Atoll's alphabet lacks.
 */
const TO_DENO: Record<string, string> = { i: "0", l: "1", o: "8" };
const FROM_DENO: Record<string, string> = { "0": "i", "1": "l", "8": "o" };
const ATOLL_ID = /^sbx_[a-z2-7]{20}$/;
const DENO_ID = /^sbx_atl_[0-9a-hjkmnp-z]{20}$/;

/** The region code in every Deno-form id this daemon hands out. */
export const DENO_REGION = "atl";

/** @example toDenoSandboxId("sbx_ilo…") // "sbx_atl_018…" */
export function toDenoSandboxId(atollId: string): string {
  if (!ATOLL_ID.test(atollId)) return atollId;
  return `sbx_${DENO_REGION}_${[...atollId.slice(4)].map((c) => TO_DENO[c] ?? c).join("")}`;
}

/**
 * Atoll's id for an id in either spelling; anything else is returned unchanged (the sandbox
 * service then answers SANDBOX_NOT_FOUND).
 *
 * @example fromDenoSandboxId("sbx_atl_018…") // "sbx_ilo…"
 */
export function fromDenoSandboxId(id: string): string {
  if (!DENO_ID.test(id)) return id;
  return `sbx_${[...id.slice(8)].map((c) => FROM_DENO[c] ?? c).join("")}`;
}
