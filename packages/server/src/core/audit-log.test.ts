import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { auditAction } from "../api/audit-hook.js";
import { AuditRepo } from "../store/audit-repo.js";
import { openDatabase } from "../store/database.js";
import { AuditLog } from "./audit-log.js";

const dir = mkdtempSync(join(tmpdir(), "atoll-audit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function setup(options = { retentionMs: 86_400_000, maxPerTenant: 1000 }) {
  const db = openDatabase(join(dir, `${Math.random().toString(36).slice(2)}.db`));
  let now = new Date("2026-01-01T00:00:00.000Z");
  const audit = new AuditLog({ repo: new AuditRepo(db), logger: pino({ level: "silent" }), options, now: () => now });
  const count = (tenant: string) => (db.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE tenant = ?").get(tenant) as { n: number }).n;
  return { db, audit, count, setNow: (d: Date) => (now = d) };
}
const admin = { tenant: "default", admin: true, tokenId: "bootstrap" };
const since = new Date(0);

test("a flooding tenant keeps at most its cap (plus one trim interval) and pushes out only its own oldest rows", () => {
  const { audit, count } = setup({ retentionMs: 86_400_000, maxPerTenant: 150 });
  audit.record({ tenant: "quiet", tokenId: "tok_q", action: "volume.create", target: "vol_1", outcome: "ok" });
  for (let i = 0; i < 2000; i++) audit.record({ tenant: "flood", tokenId: "tok_f", action: "sandbox.kill", target: `sbx_${i}`, outcome: "SANDBOX_NOT_FOUND" });
  assert.ok(count("flood") >= 150 && count("flood") <= 250, `flood keeps ${count("flood")}`);
  assert.equal(count("quiet"), 1);
  const newest = audit.list(admin, { tenant: "flood", since, limit: 1 });
  assert.equal(newest[0]?.target, "sbx_1999", "the newest entries stay");
});

test("retention deletes entries older than the setting, and only those", () => {
  const { audit, count, setNow } = setup({ retentionMs: 3_600_000, maxPerTenant: 1000 });
  audit.record({ tenant: "t", tokenId: "tok", action: "volume.create", target: "old", outcome: "ok" });
  setNow(new Date("2026-01-01T00:50:00.000Z"));
  audit.record({ tenant: "t", tokenId: "tok", action: "volume.create", target: "new", outcome: "ok" });
  setNow(new Date("2026-01-01T01:30:00.000Z"));
  assert.equal(audit.prune(), 1);
  assert.equal(count("t"), 1);
  assert.deepEqual(
    audit.list(admin, { since, limit: 10 }).map((e) => e.target),
    ["new"],
  );
});

test("a tenant sees only its own entries; another tenant's name answers NOT_FOUND like an unknown one", () => {
  const { audit } = setup();
  audit.record({ tenant: "a", tokenId: "tok_a", action: "volume.create", target: "vol_a", outcome: "ok" });
  audit.record({ tenant: "b", tokenId: "tok_b", action: "volume.create", target: "vol_b", outcome: "ok" });
  const a = { tenant: "a", admin: false, tokenId: "tok_a" };
  assert.deepEqual(
    audit.list(a, { since, limit: 10 }).map((e) => e.target),
    ["vol_a"],
  );
  assert.throws(() => audit.list(a, { tenant: "b", since, limit: 10 }), { code: "NOT_FOUND" });
  assert.throws(() => audit.list(a, { tenant: "nobody", since, limit: 10 }), { code: "NOT_FOUND" });
  assert.equal(audit.list(admin, { since, limit: 10 }).length, 2);
  assert.deepEqual(
    audit.list(admin, { tenant: "b", since, limit: 10 }).map((e) => e.target),
    ["vol_b"],
  );
});

test("token-like values and control characters never reach the store; fields are bounded", () => {
  const { audit } = setup();
  const value = `atl_${"ab".repeat(32)}`;
  audit.record({ tenant: "t", tokenId: "tok", action: "token.revoke", target: `${value}\n${"x".repeat(5000)}`, outcome: "ok" });
  const [e] = audit.list(admin, { since, limit: 1 });
  assert.ok(e && !e.target.includes("ab".repeat(32)) && e.target.startsWith("[token]x"), e?.target.slice(0, 40));
  assert.ok(e.target.length <= 200);
});

test("which requests are audited, and as what", () => {
  assert.equal(auditAction("POST", "/v1/sandboxes"), "sandbox.create");
  assert.equal(auditAction("DELETE", "/v1/sandboxes/:id/volumes/:volumeId"), "volume.detach");
  assert.equal(auditAction("POST", "/login"), "login");
  assert.equal(auditAction("POST", "/v1/volumes/:id/snapshots"), "POST /v1/volumes/:id/snapshots", "routes added later are recorded too");
  assert.equal(auditAction("GET", "/v1/volumes/:id/export"), "volume.export", "an export is recorded though it is a read");
  assert.equal(auditAction("POST", "/v1/volumes/import"), "volume.import");
  assert.equal(auditAction("GET", "/v1/volumes/:id"), undefined);
  assert.equal(auditAction("GET", "/v1/sandboxes"), undefined);
  assert.equal(auditAction("PUT", "/v1/sandboxes/:id/fs/file"), undefined, "file writes are the data plane");
  assert.equal(auditAction("POST", "/v1/sandboxes/:id/fetch"), undefined, "so is sandbox.fetch");
  assert.equal(auditAction("POST", undefined), undefined, "no route: nothing to audit");
});
