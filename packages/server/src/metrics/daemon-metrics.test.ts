import assert from "node:assert/strict";
import { test } from "node:test";
import parse from "parse-prometheus-text-format";
import { DaemonMetrics, type MetricsSources } from "./daemon-metrics.js";

function sources(over: Partial<MetricsSources> = {}): MetricsSources {
  return {
    liveSandboxes: () => [
      { tenant: "a", stopping: false },
      { tenant: "a", stopping: true },
      { tenant: "b", stopping: false },
    ],
    volumes: () => [
      { id: "vol_1", tenant: "a", state: "ready", capacityBytes: 1000, usage: { usedBytes: 10, usedInodes: 11, inodeCapacity: 64 } },
      { id: "vol_2", tenant: "b", state: "creating", capacityBytes: 2000 },
    ],
    stateDirDisk: async () => ({ availableBytes: 5, totalBytes: 9, freeInodes: 7 }),
    daemonRuns: () => ({ starts: 3, startedAt: "2026-01-01T00:00:00.000Z", previousClean: false }),
    ...over,
  };
}

async function samples(m: DaemonMetrics): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of parse(await m.registry.metrics()))
    for (const s of f.metrics) {
      const labels = Object.entries(s.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      out.set(`${f.name}{${labels}}`, s.value ?? s.count ?? "");
    }
  return out;
}

test("gauges are read from the sources at scrape; volumes not ready have no per-volume figures", async () => {
  const s = await samples(new DaemonMetrics(sources()));
  assert.equal(s.get("atoll_sandboxes{state=running,tenant=a}"), "1");
  assert.equal(s.get("atoll_sandboxes{state=stopping,tenant=a}"), "1");
  assert.equal(s.get("atoll_sandboxes{state=running,tenant=b}"), "1");
  assert.equal(s.get("atoll_volumes{state=creating,tenant=b}"), "1");
  assert.equal(s.get("atoll_volume_used_inodes{volume=vol_1,tenant=a}"), "11");
  assert.equal(s.get("atoll_volume_capacity_bytes{volume=vol_2,tenant=b}"), undefined);
  assert.equal(s.get("atoll_state_dir_free_bytes{}"), "5");
  assert.equal(s.get("atoll_state_dir_size_bytes{}"), "9");
  assert.equal(s.get("atoll_daemon_starts{}"), "3");
  assert.equal(s.get("atoll_daemon_previous_run_clean{}"), "0");
  assert.equal(s.get("atoll_netd_up{}"), undefined, "no netd gauges without networks");
  assert.equal(s.get("atoll_snapshots{}"), undefined, "no snapshot figure until the hook is set");
});

test("a create counts as starting until it ends; the hooks for snapshots and adoptions report", async () => {
  const m = new DaemonMetrics(sources({ liveSandboxes: () => [], netd: () => ({ up: true, restarts: 2 }) }));
  m.createStarted("a");
  m.createStarted("a");
  assert.equal((await samples(m)).get("atoll_sandboxes{state=starting,tenant=a}"), "2");
  m.createEnded("a", "ok", 0.2);
  m.createEnded("a", "QUOTA_EXCEEDED", 0.01);
  m.countSnapshots(() => 4);
  m.adoptions.inc({ outcome: "adopted" });
  const s = await samples(m);
  assert.equal(s.get("atoll_sandboxes{state=starting,tenant=a}"), undefined);
  assert.equal(s.get("atoll_sandbox_creates_total{outcome=ok}"), "1");
  assert.equal(s.get("atoll_sandbox_creates_total{outcome=QUOTA_EXCEEDED}"), "1");
  assert.equal(s.get("atoll_sandbox_create_seconds{}"), "1", "only successful creates are timed");
  assert.equal(s.get("atoll_snapshots{}"), "4");
  assert.equal(s.get("atoll_sandbox_adoptions_total{outcome=adopted}"), "1");
  assert.equal(s.get("atoll_netd_up{}"), "1");
  assert.equal(s.get("atoll_netd_restarts{}"), "2");
});
