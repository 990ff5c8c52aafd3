/** GET /metrics of a real daemon, parsed with a Prometheus text-format parser: auth, and figures that move. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import parse, { type ParsedFamily } from "parse-prometheus-text-format";
import { eventually } from "../dashboard/browser-harness.js";
import { useDaemon } from "../e2e/e2e-helpers.js";

process.env.ATOLL_USAGE_SAMPLE_INTERVAL = "1s";
const ctx = useDaemon();

async function scrape(token = readFileSync(join(ctx.daemon.stateDir, "metrics-token"), "utf8").trim()): Promise<ParsedFamily[]> {
  const res = await fetch(`${ctx.daemon.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parse(text);
}

/** The value of `name` whose labels include `labels`; undefined when there is no such sample. */
function value(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

test("/metrics answers the scrape token and admin tokens, nothing else", async () => {
  const status = async (headers: Record<string, string>) => (await fetch(`${ctx.daemon.url}/metrics`, { headers })).status;
  assert.equal(await status({}), 401);
  assert.equal(await status({ authorization: "Bearer not-a-token" }), 401);
  const tenant = await ctx.client.admin.createToken({ tenant: "metrics-tenant" });
  assert.equal(await status({ authorization: `Bearer ${tenant.token}` }), 403, "a tenant's token may not scrape");
  const admin = await ctx.client.admin.createToken({ tenant: "metrics-ops", admin: true });
  assert.equal(await status({ authorization: `Bearer ${admin.token}` }), 200);
  assert.equal(await status({ authorization: `Bearer ${ctx.daemon.token}` }), 200);
  // The scrape token opens /metrics only: the API refuses it.
  const scrapeToken = readFileSync(join(ctx.daemon.stateDir, "metrics-token"), "utf8").trim();
  assert.equal((await fetch(`${ctx.daemon.url}/v1/sandboxes`, { headers: { authorization: `Bearer ${scrapeToken}` } })).status, 401);
  await scrape(scrapeToken);
});

test("creating a sandbox and a volume moves the gauges, counters and the create histogram", async () => {
  const before = await scrape();
  const running = (f: ParsedFamily[]) => value(f, "atoll_sandboxes", { state: "running", tenant: "default" }) ?? 0;
  const creates = (f: ParsedFamily[]) => value(f, "atoll_sandbox_creates_total", { outcome: "ok" }) ?? 0;
  const histogramCount = (f: ParsedFamily[]) => Number(f.find((x) => x.name === "atoll_sandbox_create_seconds")?.metrics[0]?.count ?? 0);
  const volume = await ctx.client.createVolume({ name: "metered", sizeGb: 0.25 });
  await using sb = await ctx.client.createSandbox({ timeout: "5m", volumes: [{ id: volume.id, mountPath: "/data" }] });
  await sb.sh`head -c 3000000 /dev/urandom > /data/blob && touch /data/a /data/b && sync`;
  await sb.sh`id -u`.sudo();

  const after = await scrape();
  assert.equal(running(after), running(before) + 1);
  assert.equal(creates(after), creates(before) + 1);
  assert.equal(histogramCount(after), histogramCount(before) + 1);
  assert.equal((value(after, "atoll_commands_total", { user: "app" }) ?? 0) - (value(before, "atoll_commands_total", { user: "app" }) ?? 0), 1);
  assert.equal((value(after, "atoll_commands_total", { user: "root" }) ?? 0) - (value(before, "atoll_commands_total", { user: "root" }) ?? 0), 1);
  assert.equal(
    value(after, "atoll_volumes", { state: "ready", tenant: "default" }),
    (value(before, "atoll_volumes", { state: "ready", tenant: "default" }) ?? 0) + 1,
  );
  assert.equal(value(after, "atoll_volume_capacity_bytes", { volume: volume.id }), volume.capacityBytes);
  // Used bytes and inodes come from the usage sampler (every second here).
  const used = await eventually(
    "the volume's usage sampled",
    async () => {
      const f = await scrape();
      const bytes = value(f, "atoll_volume_used_bytes", { volume: volume.id }) ?? 0;
      return bytes >= 3_000_000 ? f : undefined;
    },
    60_000,
  );
  const inodes = value(used, "atoll_volume_used_inodes", { volume: volume.id }) ?? 0;
  assert.ok(inodes >= 3 && inodes < (value(used, "atoll_volume_inode_capacity", { volume: volume.id }) ?? 0), `inodes ${inodes}`);
  assert.ok((value(after, "atoll_state_dir_free_bytes") ?? 0) > 0);
  assert.ok((value(after, "atoll_state_dir_size_bytes") ?? 0) >= (value(after, "atoll_state_dir_free_bytes") ?? 0));
  assert.equal(value(after, "atoll_daemon_starts"), 1, "a fresh state directory: its first run");
  assert.ok(value(after, "atoll_warm_pool_ready", { pool: "scratch" }) !== undefined);

  await sb.kill();
  assert.equal(running(await scrape()), running(before));
});

test("errors are counted by code, and a refused create is counted by its code", async () => {
  const before = await scrape();
  const notFound = (f: ParsedFamily[]) => value(f, "atoll_api_errors_total", { code: "SANDBOX_NOT_FOUND" }) ?? 0;
  const badCreates = (f: ParsedFamily[]) => value(f, "atoll_sandbox_creates_total", { outcome: "INVALID_ARGUMENT" }) ?? 0;
  await assert.rejects(ctx.client.getSandbox("sbx_nope"));
  const refused = await fetch(`${ctx.daemon.url}/v1/sandboxes`, {
    method: "POST",
    headers: { authorization: `Bearer ${ctx.daemon.token}`, "content-type": "application/json" },
    body: JSON.stringify({ memoryMb: 1 }),
  });
  assert.equal(refused.status, 400);
  const after = await scrape();
  assert.equal(notFound(after), notFound(before) + 1);
  assert.equal(badCreates(after), badCreates(before) + 1);
  assert.equal(value(after, "atoll_sandboxes", { state: "starting", tenant: "default" }), undefined, "nothing is left starting");
});

test("a restarted daemon counts its starts", async () => {
  await ctx.daemon.stop();
  ctx.daemon = await ctx.daemon.restart();
  const f = await scrape();
  assert.equal(value(f, "atoll_daemon_starts"), 2);
  assert.equal(value(f, "atoll_daemon_previous_run_clean"), 1);
});
