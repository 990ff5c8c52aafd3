import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Fastify from "fastify";
import pino from "pino";
import { AuditLog } from "../core/audit-log.js";
import type { Principal } from "../core/token-service.js";
import { AuditRepo } from "../store/audit-repo.js";
import { openDatabase } from "../store/database.js";
import { registerAuditHook } from "./audit-hook.js";
import { trackOutcomes } from "./request-outcome.js";

const dir = mkdtempSync(join(tmpdir(), "atoll-audit-hook-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("a call whose client goes away while its handler runs is still recorded, as ABORTED", async () => {
  const audit = new AuditLog({
    repo: new AuditRepo(openDatabase(join(dir, "a.db"))),
    logger: pino({ level: "silent" }),
    options: { retentionMs: 3_600_000, maxPerTenant: 100 },
  });
  const app = Fastify();
  app.decorateRequest("principal", null as unknown as Principal);
  app.addHook("onRequest", async (req) => {
    req.principal = { tenant: "t", admin: false, tokenId: "tok_1" };
  });
  trackOutcomes(app);
  registerAuditHook(app, audit);
  let entered!: () => void;
  const inHandler = new Promise<void>((r) => (entered = r));
  app.delete<{ Params: { id: string } }>("/v1/volumes/:id", async (req) => {
    entered();
    await new Promise((r) => req.raw.socket.once("close", r)); // the kill happened; the client is gone
    return { id: req.params.id };
  });
  app.delete<{ Params: { id: string } }>("/v1/sandboxes/:id", async (req) => ({ id: req.params.id }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    const { port } = app.server.address() as AddressInfo;
    const gone = request({ host: "127.0.0.1", port, method: "DELETE", path: "/v1/volumes/vol_1" });
    gone.on("error", () => undefined);
    gone.end();
    await inHandler;
    gone.destroy();
    const done = await fetch(`http://127.0.0.1:${port}/v1/sandboxes/sbx_2`, { method: "DELETE" });
    assert.equal(done.status, 200);
    await done.text();
    const outcomes = async () =>
      audit.list({ tenant: "t", admin: false, tokenId: "tok_1" }, { since: new Date(0), limit: 10 }).map((e) => [e.action, e.target, e.outcome]);
    for (let i = 0; i < 100 && (await outcomes()).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual((await outcomes()).sort(), [
      ["sandbox.kill", "sbx_2", "ok"],
      ["volume.delete", "vol_1", "ABORTED"],
    ]);
  } finally {
    await app.close();
  }
});
