/**
 * The store's schema: migrations run forward from every earlier version, each whole or not at
 * all; a store of a newer release is refused without a byte of it changing.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { migrate, openDatabase } from "./database.js";
import { MIGRATIONS } from "./migrations.js";
import { assertSchemaKnown, SchemaTooNewError, storedSchemaVersion } from "./schema-version.js";

const dir = mkdtempSync(join(tmpdir(), "atoll-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `s${n++}.db`);

/** Tables and their columns, to compare two schemas. */
function schemaOf(db: Database.Database): Record<string, string[]> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
  return Object.fromEntries(tables.map(({ name }) => [name, (db.pragma(`table_info(${name})`) as { name: string }[]).map((c) => c.name)]));
}

/** A store left at schema `version` (migrations 1..version only), as that release's daemon closed it. */
function storeAt(version: number): string {
  const file = fresh();
  openDatabase(file, MIGRATIONS.slice(0, version)).close();
  return file;
}

test("a store of every earlier schema version migrates to exactly the schema of a new store", () => {
  const newest = openDatabase(fresh());
  const expected = schemaOf(newest);
  newest.close();
  assert.ok(MIGRATIONS.length >= 6);
  for (let version = 0; version < MIGRATIONS.length; version++) {
    const db = openDatabase(storeAt(version));
    assert.equal(db.pragma("user_version", { simple: true }), MIGRATIONS.length, `from ${version}`);
    assert.deepEqual(schemaOf(db), expected, `from ${version}`);
    db.close();
  }
});

test("a migration that fails leaves the store whole at the version before it", () => {
  const file = storeAt(3);
  // Its first statement succeeds, its second fails: neither may remain.
  const failing = [...MIGRATIONS.slice(0, 4), "CREATE TABLE half_made (a TEXT); ALTER TABLE no_such_table ADD COLUMN b TEXT;", ...MIGRATIONS.slice(4)];
  assert.throws(() => openDatabase(file, failing), /no such table: no_such_table/);
  const db = new Database(file);
  assert.equal(db.pragma("user_version", { simple: true }), 4, "migration 4 ran, the failing fifth did not");
  assert.deepEqual(
    Object.keys(schemaOf(db)).filter((t) => t === "half_made"),
    [],
  );
  db.close();
  // The real list then carries on from there.
  const healed = openDatabase(file);
  assert.equal(healed.pragma("user_version", { simple: true }), MIGRATIONS.length);
  healed.close();
});

test("migrate() on a store already at the newest version changes nothing", () => {
  const db = openDatabase(fresh());
  migrate(db);
  assert.equal(db.pragma("user_version", { simple: true }), MIGRATIONS.length);
  db.close();
});

test("a store of a newer release is refused, naming both versions, and not one byte changes", () => {
  const file = storeAt(MIGRATIONS.length);
  const db = new Database(file);
  db.pragma(`user_version = ${MIGRATIONS.length + 3}`);
  db.close();
  const before = readFileSync(file);
  const files = readdirSync(dir).sort();
  assert.equal(storedSchemaVersion(file), MIGRATIONS.length + 3);
  assert.throws(
    () => assertSchemaKnown(file, MIGRATIONS.length, "9.9.9"),
    (err: unknown) =>
      err instanceof SchemaTooNewError &&
      err.message.includes(`schema version ${MIGRATIONS.length + 3}`) &&
      err.message.includes(`this atoll 9.9.9 knows schema versions up to ${MIGRATIONS.length}`) &&
      /→ fix: /.test(err.message),
  );
  // openDatabase refuses too (a second line of defence for callers other than the daemon).
  assert.throws(() => openDatabase(file), SchemaTooNewError);
  assert.deepEqual(readFileSync(file), before, "the store file is byte-for-byte unchanged");
  assert.deepEqual(readdirSync(dir).sort(), files, "no -wal or -shm file was left");
});

test("the schema version is read without writing: missing, empty, not SQLite, and after a crash (header in the -wal)", () => {
  assert.equal(storedSchemaVersion(join(dir, "missing.db")), 0);
  assert.ok(!existsSync(join(dir, "missing.db")));
  const empty = fresh();
  writeFileSync(empty, "");
  assert.equal(storedSchemaVersion(empty), 0);
  const text = fresh();
  writeFileSync(text, "x".repeat(200));
  assert.equal(storedSchemaVersion(text), 0);
  // A daemon that is still running (or was killed): the new version is committed in the -wal,
  // not yet in the main file's header.
  const file = storeAt(MIGRATIONS.length);
  const live = new Database(file);
  live.pragma("wal_autocheckpoint = 0");
  live.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  assert.equal(readFileSync(file).readUInt32BE(60), MIGRATIONS.length, "the header in the main file is stale");
  assert.equal(storedSchemaVersion(file), MIGRATIONS.length + 1);
  live.close();
});
