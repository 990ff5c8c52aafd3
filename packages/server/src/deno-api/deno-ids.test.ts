import assert from "node:assert/strict";
import { test } from "node:test";
import { newSandboxId } from "../core/ids.js";
import { fromDenoSandboxId, toDenoSandboxId } from "./deno-ids.js";

// The pattern @deno/sandbox 0.13.2 checks in Sandbox.connect (extractRegionFromSandboxId).
const DENO_CLIENT_RE = /^sbx_([a-z]{3})_[0-9a-hjkmnp-z]{20}$/;

test("every Atoll sandbox id has a Deno spelling the client accepts, and it maps back", () => {
  for (let i = 0; i < 2000; i++) {
    const id = newSandboxId();
    const deno = toDenoSandboxId(id);
    assert.match(deno, DENO_CLIENT_RE);
    assert.equal(fromDenoSandboxId(deno), id);
    assert.equal(fromDenoSandboxId(id), id);
  }
  assert.equal(toDenoSandboxId("sbx_iloiloiloiloiloiloil"), "sbx_atl_01801801801801801801");
});

test("ids in neither spelling pass through unchanged", () => {
  for (const bad of ["", "sbx_", "sbx_atl_", "sbx_ord_0123456789abcdefghjk", "../etc", "sbx_ABCDEFGHIJKLMNOPQRST"]) {
    assert.equal(fromDenoSandboxId(bad), bad);
    assert.equal(toDenoSandboxId(bad), bad);
  }
});
