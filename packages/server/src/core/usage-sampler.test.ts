import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { openDatabase } from "../store/database.js";
import { UsageSampleRepo } from "../store/usage-sample-repo.js";
import { VolumeRepo } from "../store/volume-repo.js";
import type { StorageDriver } from "./drivers.js";
import { UsageSampler } from "./usage-sampler.js";

const dir = mkdtempSync(join(tmpdir(), "atoll-usage-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Only `usage` is called by the sampler; the figures come from this map. */
function storageWith(used: Map<string, number>): StorageDriver {
  return {
    usage: async (id: string) => {
      const u = used.get(id);
      if (u === undefined) throw new Error("gone");
      return { usedBytes: u, capacityBytes: 2 ** 30 };
    },
  } as unknown as StorageDriver;
}

test("samples every ready volume, stores only changes, and prunes old and orphaned samples", async () => {
  const db = openDatabase(join(dir, "a.db"));
  const volumes = new VolumeRepo(db);
  const row = (id: string, name: string, state: "ready" | "creating") =>
    volumes.tryInsert({ id, tenant: "default", name, sizeGb: 1, capacityBytes: 2 ** 30, state, createdAt: new Date().toISOString(), lastAttachedAt: null });
  row("vol_a", "a", "ready");
  row("vol_b", "b", "creating");
  const used = new Map([
    ["vol_a", 4096],
    ["vol_b", 1],
  ]);
  const samples = new UsageSampleRepo(db);
  const sampler = new UsageSampler({
    volumes,
    samples,
    storage: storageWith(used),
    logger: pino({ level: "silent" }),
    options: { intervalMs: 3_600_000, retentionMs: 86_400_000 },
  });
  let notified = 0;
  sampler.onSample(() => notified++);
  const since = new Date(Date.now() - 60_000);

  await sampler.tick();
  await sampler.tick(); // unchanged: nothing new stored
  assert.deepEqual(
    sampler.history("vol_a", since).map((s) => s.usedBytes),
    [4096],
  );
  assert.deepEqual(sampler.history("vol_b", since), []);
  assert.equal(notified, 1);

  await new Promise((r) => setTimeout(r, 5)); // distinct timestamp
  used.set("vol_a", 8192);
  await sampler.tick();
  assert.deepEqual(
    sampler.history("vol_a", since).map((s) => s.usedBytes),
    [4096, 8192],
  );

  used.delete("vol_a"); // unreadable: skipped, no throw
  await sampler.tick();

  samples.insert("vol_a", "2000-01-01T00:00:00.000Z", 1);
  samples.insert("vol_gone", new Date().toISOString(), 1);
  assert.equal(samples.prune(new Date(Date.now() - 86_400_000).toISOString()), 2);
  assert.equal(sampler.history("vol_a", new Date(0)).length, 2);
  await sampler.stop();
  db.close();
});
