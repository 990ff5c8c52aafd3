/**
 * Upgrades lose nothing (docs/operations.md, "Upgrading"). A state directory is seeded once by a
 * real daemon (tenants, tokens with quotas and net access, volumes with data, a stopped sandbox
 * with its command log, usage samples, a dashboard login); then, for every earlier schema
 * version N, a copy of it gets the store as a daemon of schema N left it — migrations 1..N only,
 * with the rows of every table and column that existed then — and the current daemon must start
 * on it with every volume readable from a sandbox, tokens authenticating, quotas and net access
 * kept. A state directory of a newer release is refused with one line and stays byte-for-byte
 * the same. Restarts record how the previous run ended.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { Client } from "atoll";
import { SESSION_COOKIE } from "../api/session-cookie.js";
import type { DaemonInfo } from "../core/daemon-runs.js";
import { openDatabase } from "../store/database.js";
import { MIGRATIONS } from "../store/migrations.js";
import { runToEnd } from "../testing/cli-runner.js";
import { machineLeftovers } from "../testing/daemon-leftovers.js";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";
import { killOnDispose } from "./e2e-helpers.js";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const LATEST = MIGRATIONS.length;
/** The migrations that added usage samples and the command log, tenants and tokens, dashboard sessions, tenants' net access. */
const USAGE_AT = 2;
const TENANTS_AT = 3;
const SESSIONS_AT = 4;
const NET_OPEN_AT = 5;
const RUNS_AT = 6;

const work = mkdtempSync("/var/tmp/atoll-upgrade-");
chmodSync(work, 0o755); // state directories below: bwrap (sandbox root's host uid) passes through
after(() => rmSync(work, { recursive: true, force: true }));

/** What the seeding daemon made, to find again after each upgrade. */
interface Seed {
  dir: string;
  acmeToken: string;
  cookie: string;
  keepId: string;
  acmeVolumeId: string;
  stoppedId: string;
}

const api = async <T>(
  daemon: TestDaemon,
  path: string,
  headers: Record<string, string> = { authorization: `Bearer ${daemon.token}` },
): Promise<{ status: number; body: T }> => {
  const r = await fetch(`${daemon.url}${path}`, { headers });
  const text = await r.text();
  return { status: r.status, body: (r.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T };
};

/** Writes `text` to a file on the volume from a fresh sandbox. */
async function writeOnVolume(client: Client, volumeId: string, text: string): Promise<string> {
  await using sb = killOnDispose(await client.createSandbox({ timeout: "5m", volumes: [{ id: volumeId, mountPath: "/data" }] }));
  await sb.sh`printf %s ${text} > /data/kept.txt && sync`.text();
  return sb.id;
}

/** What a sandbox reads from the volume, mounted read-only. */
async function readFromVolume(client: Client, volumeId: string): Promise<string> {
  await using sb = killOnDispose(await client.createSandbox({ timeout: "5m", volumes: [{ id: volumeId, mountPath: "/data", accessMode: "ro" }] }));
  return (await sb.sh`cat /data/kept.txt`.text()).trimEnd();
}

async function seedStateDir(): Promise<Seed> {
  const dir = join(work, "seed");
  const daemon = await startTestDaemon({ stateDir: dir });
  try {
    const admin = new Client({ url: daemon.url, token: daemon.token });
    const { token: acmeToken } = await admin.admin.createToken({ tenant: "acme", name: "ci" });
    await admin.admin.setQuota("acme", { maxSandboxes: 3, maxVolumeGb: 1 });
    await admin.admin.setNetAccess("acme", { open: ["private"] });
    const acme = new Client({ url: daemon.url, token: acmeToken });
    const keep = await admin.createVolume({ name: "keep", sizeGb: 0.0625 });
    const acmeVolume = await acme.createVolume({ name: "acme-data", sizeGb: 0.0625 });
    const stoppedId = await writeOnVolume(admin, keep.id, "kept by default");
    await writeOnVolume(acme, acmeVolume.id, "kept by acme");
    // A dashboard login (the form posts the token; the cookie is what a browser keeps).
    const login = await fetch(`${daemon.url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: daemon.token }),
    });
    const cookie = new RegExp(`${SESSION_COOKIE}=[^;]+`).exec(login.headers.get("set-cookie") ?? "")?.[0];
    assert.ok(cookie, `a session cookie (status ${login.status})`);
    assert.equal(await daemon.stop(), 0);
    // A usage sample from yesterday (the sampler's first one comes a minute after start).
    const db = openDatabase(join(dir, "atoll.db"));
    db.prepare("INSERT INTO volume_usage_samples (volume_id, at, used_bytes) VALUES (?, ?, ?)").run(
      keep.id,
      new Date(Date.now() - 3_600_000).toISOString(),
      12345,
    );
    db.close();
    return { dir, acmeToken, cookie, keepId: keep.id, acmeVolumeId: acmeVolume.id, stoppedId };
  } catch (err) {
    await daemon.dispose();
    throw err;
  }
}

/**
 * Replaces the copy's store by one at schema `version`, as a daemon of that schema left it:
 * migrations 1..version, then the rows of every table and column that existed at that version.
 * Before tenants existed (version < TENANTS_AT), only tenant "default" had anything.
 */
function downgradeStore(dir: string, version: number): void {
  const file = join(dir, "atoll.db");
  const old = join(work, `schema-${version}.db`);
  openDatabase(old, MIGRATIONS.slice(0, version)).close();
  const db = new Database(old);
  db.exec(`ATTACH DATABASE '${file}' AS current`);
  const tables = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map(
    (t) => t.name,
  );
  db.transaction(() => {
    for (const table of tables) {
      const columns = (db.pragma(`main.table_info(${table})`) as { name: string }[]).map((c) => c.name).join(", ");
      db.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM current.${table}`);
    }
    if (version < TENANTS_AT) {
      db.exec("DELETE FROM main.attachments WHERE volume_id IN (SELECT id FROM main.volumes WHERE tenant <> 'default')");
      db.exec("DELETE FROM main.volumes WHERE tenant <> 'default'; DELETE FROM main.sandboxes WHERE tenant <> 'default'");
    }
  })();
  db.exec("DETACH DATABASE current");
  assert.equal(db.pragma("user_version", { simple: true }), version);
  db.close();
  // Into the existing file: its mode (0600) stays; the seed's store was closed cleanly (no -wal).
  copyFileSync(old, file);
  rmSync(old);
}

/** A copy of the seeded state directory (volume images stay sparse). */
function copySeed(seed: Seed, name: string): string {
  const dir = join(work, name);
  execFileSync("cp", ["-a", "--sparse=always", seed.dir, dir]);
  return dir;
}

let seed: Seed;

test("seed: a daemon leaves tenants, tokens, volumes with data, a stopped sandbox, samples and a login", { timeout: 600_000 }, async () => {
  seed = await seedStateDir();
});

for (let version = 1; version < LATEST; version++) {
  test(`a state directory of schema ${version} is adopted by this daemon with everything in it`, { timeout: 600_000 }, async () => {
    assert.ok(seed, "seeded");
    const dir = copySeed(seed, `v${version}`);
    downgradeStore(dir, version);
    const daemon = await startTestDaemon({ stateDir: dir });
    try {
      const admin = new Client({ url: daemon.url, token: daemon.token });
      const volumes = await admin.listVolumes();
      assert.deepEqual(
        volumes.map((v) => [v.id, v.name]),
        [[seed.keepId, "keep"]],
      );
      assert.equal(await readFromVolume(admin, seed.keepId), "kept by default");
      const stopped = await admin.listSandboxes({ state: "stopped" });
      assert.ok(
        stopped.some((s) => s.id === seed.stoppedId),
        `the stopped sandbox is still listed: ${JSON.stringify(stopped.map((s) => s.id))}`,
      );

      if (version >= USAGE_AT) {
        const commands = await api<{ commands: { command: string }[] }>(daemon, `/v1/sandboxes/${seed.stoppedId}/commands`);
        assert.equal(commands.status, 200);
        assert.ok(
          commands.body.commands.some((c) => c.command.includes("kept.txt")),
          "its command log is kept",
        );
        const usage = await api<{ samples: { usedBytes: number }[] }>(daemon, `/v1/volumes/${seed.keepId}/usage?since=48h`);
        assert.equal(usage.status, 200);
        assert.ok(
          usage.body.samples.some((s) => s.usedBytes === 12345),
          "the usage sample is kept",
        );
      }
      if (version >= TENANTS_AT) {
        const acme = new Client({ url: daemon.url, token: seed.acmeToken });
        assert.deepEqual(
          (await acme.listVolumes()).map((v) => v.id),
          [seed.acmeVolumeId],
          "the tenant's token still authenticates",
        );
        assert.equal(await readFromVolume(acme, seed.acmeVolumeId), "kept by acme");
        const tenant = (await admin.admin.listTenants()).find((t) => t.name === "acme");
        assert.equal(tenant?.maxSandboxes, 3);
        assert.equal(tenant?.maxVolumeGb, 1);
        assert.deepEqual(tenant?.netOpen, version >= NET_OPEN_AT ? ["private"] : []);
      }
      if (version >= SESSIONS_AT) {
        const page = await api<string>(daemon, "/", { cookie: seed.cookie });
        assert.equal(page.status, 200, "the dashboard login is kept");
        assert.match(page.body, /data-daemon="uptime">up /);
      }
      const info = await api<DaemonInfo>(daemon, "/v1/daemon");
      assert.equal(info.body.schemaVersion, LATEST);
      if (version < RUNS_AT) assert.equal(info.body.previousRun, null, "no run was recorded before schema 6");
      else assert.equal(info.body.previousRun?.clean, true, "the seed daemon's run, stopped cleanly, is kept");
    } finally {
      await daemon.dispose();
      assert.deepEqual(machineLeftovers(dir), []);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Every entry below `dir`: path, type, mode, size, mtime, and the bytes of the store. */
function treeOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      out.push(`${relative(dir, p)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

test("a state directory of a newer release is refused with one line naming both versions, and stays unchanged", { timeout: 300_000 }, async () => {
  assert.ok(seed, "seeded");
  const dir = copySeed(seed, "newer");
  const db = new Database(join(dir, "atoll.db"));
  db.pragma(`user_version = ${LATEST + 1}`);
  db.close();
  const store = readFileSync(join(dir, "atoll.db"));
  const tree = treeOf(dir);
  const r = await runToEnd(process.execPath, [MAIN, "serve", "--state-dir", dir, "--listen", "127.0.0.1:0", "--uplink", "none", "--dns", "none"]);
  assert.deepEqual(readFileSync(join(dir, "atoll.db")), store, "the store is byte-for-byte unchanged");
  assert.deepEqual(treeOf(dir), tree, "nothing in the state directory changed");
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    new RegExp(
      `^atoll serve: the store .*atoll\\.db has schema version ${LATEST + 1}, but this atoll \\S+ knows schema versions up to ${LATEST}: .*downgrades are refused → fix: run the newer release again`,
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

test("restarts are recorded: a clean stop, then a crash, as the next run reports them", { timeout: 600_000 }, async () => {
  assert.ok(seed, "seeded");
  const first = await startTestDaemon({ stateDir: seed.dir });
  const one = (await api<DaemonInfo>(first, "/v1/daemon")).body;
  assert.equal(one.pid, first.pid);
  assert.equal(one.schemaVersion, LATEST);
  assert.equal(await first.stop(), 0);
  const second = await first.restart();
  const two = (await api<DaemonInfo>(second, "/v1/daemon")).body;
  assert.deepEqual({ ...two.previousRun, endedAt: undefined }, { version: one.version, startedAt: one.startedAt, endedAt: undefined, clean: true });
  assert.ok(Date.parse(two.previousRun!.endedAt) >= Date.parse(one.startedAt));
  await second.crash();
  const third = await second.restart();
  try {
    const three = (await api<DaemonInfo>(third, "/v1/daemon")).body;
    assert.equal(three.previousRun?.startedAt, two.startedAt);
    assert.equal(three.previousRun?.clean, false, "killed: not a clean stop");
    const page = await api<string>(third, "/", { cookie: seed.cookie });
    assert.match(page.body, /last restart <time[^>]*>[^<]*<\/time>, after a crash \(last seen/);
  } finally {
    await third.stop();
    assert.deepEqual(machineLeftovers(seed.dir), []);
  }
});
