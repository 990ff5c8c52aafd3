import Database from "better-sqlite3";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { StartupError } from "../startup-error.js";

/** SQLite's file header: "SQLite format 3\0", and at offset 60 the big-endian `user_version`. */
const MAGIC = Buffer.from("SQLite format 3\0", "latin1");
const USER_VERSION_OFFSET = 60;

/**
 * The schema version of the store `file` (its `PRAGMA user_version`; 0 when the file does not
 * exist yet, is empty, or is not a SQLite file), read without writing anything: no connection
 * is opened on a cleanly closed store, whose header is current — a read-only connection would
 * still leave -wal and -shm files behind. After a crash the newest header may sit in the -wal
 * file; then a read-only connection reads it through the -wal and -shm that are already there.
 *
 * @example if (storedSchemaVersion("/var/lib/atoll/atoll.db") > MIGRATIONS.length) refuse();
 */
export function storedSchemaVersion(file: string): number {
  if (!existsSync(file)) return 0;
  const wal = `${file}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db.pragma("user_version", { simple: true }) as number;
    } finally {
      db.close();
    }
  }
  const header = Buffer.alloc(USER_VERSION_OFFSET + 4);
  const fd = openSync(file, "r");
  try {
    if (readSync(fd, header, 0, header.length, 0) < header.length) return 0;
  } finally {
    closeSync(fd);
  }
  if (!header.subarray(0, MAGIC.length).equals(MAGIC)) return 0; // not a store: openDatabase says so
  return header.readUInt32BE(USER_VERSION_OFFSET);
}

/**
 * The store was written by a newer Atoll release (a schema version this build does not know).
 * Running an older daemon on it could misread or damage what the newer one wrote, so the daemon
 * refuses to start and touches nothing.
 */
export class SchemaTooNewError extends StartupError {
  constructor(
    readonly file: string,
    readonly stored: number,
    readonly known: number,
    release?: string,
  ) {
    const self = release === undefined ? "this atoll" : `this atoll ${release}`;
    super(
      `the store ${file} has schema version ${stored}, but ${self} knows schema versions up to ${known}: a newer Atoll release used this state directory, and downgrades are refused`,
      'run the newer release again (the state directory is unchanged), or start this one on a backup made before the upgrade (docs/operations.md, "Upgrading")',
    );
  }
}

/**
 * Refuses (SchemaTooNewError) a store newer than `known` migrations, before anything in the state
 * directory changes; the daemon calls it first thing.
 */
export function assertSchemaKnown(file: string, known: number, release?: string): void {
  const stored = storedSchemaVersion(file);
  if (stored > known) throw new SchemaTooNewError(file, stored, known, release);
}
