import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import { SchemaTooNewError } from "./schema-version.js";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the daemon's SQLite store and brings its schema up to date.
 * WAL mode with synchronous=NORMAL: a committed transaction survives a daemon crash. A store
 * from a newer release (a schema this build does not know) is refused before anything is
 * written to it. `migrations` is for tests (a list with a failing step); the daemon uses MIGRATIONS.
 *
 * @example const db = openDatabase("/var/lib/atoll/atoll.db");
 */
export function openDatabase(file: string, migrations: readonly string[] = MIGRATIONS): Db {
  const db = new Database(file);
  try {
    const stored = db.pragma("user_version", { simple: true }) as number;
    if (stored > migrations.length) throw new SchemaTooNewError(file, stored, migrations.length);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db, migrations);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs the migrations after `PRAGMA user_version`, each in a transaction of its own with the
 * version bump: one that fails leaves the store at the version before it, whole.
 */
export function migrate(db: Db, migrations: readonly string[] = MIGRATIONS): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
