import assert from "node:assert/strict";
import { test } from "node:test";
import type { VolumeInfo } from "atoll/contract";
import { CpuMeter } from "./cpu-meter.js";
import { markStale, overcommitOf } from "./overview-builder.js";
import { escapeHtml, loginPage } from "./pages.js";
import { isDashboardPublicPath } from "./register-dashboard.js";
import { markSources } from "./snapshot-rows.js";

const vol = (over: Partial<VolumeInfo>): VolumeInfo => ({
  id: "vol_a",
  name: "a",
  sizeGb: 1,
  capacityBytes: 1000,
  usedBytes: 100,
  usedInodes: 11,
  inodeCapacity: 256,
  createdAt: "2026-01-01T00:00:00.000Z",
  lastAttachedAt: null,
  attachments: [],
  bootable: false,
  ...over,
});
const DAY = 86_400_000;
const now = Date.parse("2026-01-10T00:00:00.000Z");

test("stale: unattached and idle longer than the threshold, counted from the last attach or creation", () => {
  assert.equal(markStale(vol({}), 7 * DAY, now).stale, true, "created 9 days ago, never attached");
  assert.equal(markStale(vol({}), 7 * DAY, now).idleSince, "2026-01-01T00:00:00.000Z");
  assert.equal(markStale(vol({ lastAttachedAt: "2026-01-05T00:00:00.000Z" }), 7 * DAY, now).stale, false);
  assert.equal(markStale(vol({ lastAttachedAt: "2026-01-05T00:00:00.000Z" }), 4 * DAY, now).stale, true);
  const attached = markStale(
    vol({
      attachments: [{ sandboxId: "sbx_1", volumeId: "vol_a", volumeName: "a", mountPath: "/d", accessMode: "rw", attachedAt: "2026-01-01T00:00:00.000Z" }],
    }),
    DAY,
    now,
  );
  assert.equal(attached.stale, false);
  assert.equal(attached.idleSince, null);
});

test("overcommit is what sparse volumes may still take beyond the free space", () => {
  assert.equal(overcommitOf(800, 1000), 0, "800 unallocated fits in 1000 free");
  assert.equal(overcommitOf(800, 300), 500);
  assert.equal(overcommitOf(0, 0), 0, "volumes allocated in full never overcommit");
});

test("CPU percent from cumulative nanoseconds over wall time", () => {
  const m = new CpuMeter();
  assert.equal(m.percent("a", 0, 0), null);
  assert.equal(m.percent("a", 500_000_000, 1000), 50, "0.5 s of CPU in 1 s");
  assert.equal(m.percent("a", 2_500_000_000, 2000), 200, "two cores busy");
  assert.equal(m.percent("a", 100, 3000), null, "a counter that went back restarts");
  m.retain(new Set());
  assert.equal(m.percent("a", 200, 4000), null);
});

test("pages escape what they show; only the pages and assets skip the auth hook", () => {
  assert.equal(escapeHtml(`<b a="x">'&`), "&#60;b a=&#34;x&#34;&#62;&#39;&#38;");
  assert.ok(loginPage("<script>").includes("&#60;script&#62;"));
  for (const p of ["/", "/login", "/logout", "/ui/assets/main.js"]) assert.equal(isDashboardPublicPath(p), true, p);
  for (const p of ["/ui/events", "/v1/volumes", "/ui", "/ui/assets"]) assert.equal(isDashboardPublicPath(p), false, p);
});

test("snapshots whose source volume is gone are marked", () => {
  const snap = (id: string, volumeId: string) => ({
    id,
    name: id,
    volumeId,
    volumeName: "v",
    sizeGb: 1,
    capacityBytes: 1000,
    createdAt: "2026-01-01T00:00:00.000Z",
    allocatedBytes: 0,
    bootable: false,
  });
  const rows = markSources([snap("snap_a", "vol_a"), snap("snap_b", "vol_gone")], new Set(["vol_a"]));
  assert.deepEqual(
    rows.map((r) => [r.id, r.sourceDeleted]),
    [
      ["snap_a", false],
      ["snap_b", true],
    ],
  );
});
