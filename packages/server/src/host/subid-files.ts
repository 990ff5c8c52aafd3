/**
 * The host's id databases as far as the sandbox id range is concerned: `/etc/subuid` and
 * `/etc/subgid` (subordinate ids `newuidmap`/`newgidmap` let a user map into a user namespace of
 * their own), and the uids/gids of `/etc/passwd` and `/etc/group`. Parsing is pure; editing a
 * subordinate id file takes the same `<file>.lock` lock as shadow's useradd/usermod and
 * replaces the file atomically.
 */
import { chownSync, closeSync, fchmodSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "../image/build-lock.js";
import { DaemonError } from "../daemon-error.js";

/** One `owner:start:count` line of /etc/subuid or /etc/subgid. */
export interface SubidEntry {
  owner: string;
  start: number;
  count: number;
}

/** A named id of /etc/passwd or /etc/group. */
export interface NamedId {
  name: string;
  id: number;
}

/** What the host has handed out, read from one /etc-like directory. */
export interface HostIds {
  /** Directory the files were read from (normally /etc), for messages. */
  dir: string;
  subuid: SubidEntry[];
  subgid: SubidEntry[];
  users: NamedId[];
  groups: NamedId[];
}

/** Parses /etc/subuid or /etc/subgid text; lines that are not `owner:start:count` are skipped. */
export function parseSubidFile(text: string): SubidEntry[] {
  const entries: SubidEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^([^:\s#][^:]*):(\d+):(\d+)\s*$/.exec(line);
    if (!m) continue;
    const start = Number(m[2]);
    const count = Number(m[3]);
    if (Number.isSafeInteger(start) && Number.isSafeInteger(count) && count > 0) entries.push({ owner: m[1]!, start, count });
  }
  return entries;
}

/** Parses /etc/passwd or /etc/group text into (name, id) pairs (third field). */
export function parseIdDatabase(text: string): NamedId[] {
  const out: NamedId[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 3 || fields[0] === "" || !/^\d+$/.test(fields[2]!)) continue;
    out.push({ name: fields[0]!, id: Number(fields[2]) });
  }
  return out;
}

function readOptional(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/** Reads subuid, subgid, passwd and group from `dir` (a missing file counts as empty). */
export function readHostIds(dir = "/etc"): HostIds {
  return {
    dir,
    subuid: parseSubidFile(readOptional(join(dir, "subuid"))),
    subgid: parseSubidFile(readOptional(join(dir, "subgid"))),
    users: parseIdDatabase(readOptional(join(dir, "passwd"))),
    groups: parseIdDatabase(readOptional(join(dir, "group"))),
  };
}

/**
 * Returns `text` with `entry` added (if absent) and the entries in `remove` taken out. Other
 * lines, including ones this parser does not understand, are kept byte for byte.
 */
export function editSubidText(text: string, entry: SubidEntry | undefined, remove: readonly SubidEntry[] = []): string {
  const line = (e: SubidEntry) => `${e.owner}:${e.start}:${e.count}`;
  const drop = new Set(remove.map(line));
  if (entry) drop.delete(line(entry));
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const kept = lines.filter((l) => !drop.has(l.trim()));
  if (entry && !kept.some((l) => l.trim() === line(entry))) kept.push(line(entry));
  return kept.length === 0 ? "" : `${kept.join("\n")}\n`;
}

const LOCK_TRIES = 50;
const LOCK_WAIT_MS = 100;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * shadow's lock protocol (commonio): write our pid to `<file>.<pid>`, hard-link it to
 * `<file>.lock`; a lock whose pid is dead is stale and removed. Waits up to 5 s.
 */
function withFileLock<T>(file: string, fn: () => T): T {
  const mine = `${file}.${process.pid}`;
  const lock = `${file}.lock`;
  writeFileSync(mine, `${process.pid}`, { mode: 0o600 });
  try {
    for (let i = 0; ; i++) {
      try {
        linkSync(mine, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const holder = Number(readOptional(lock).trim());
        if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
          unlinkSync(lock);
          continue;
        }
        if (i >= LOCK_TRIES) throw new DaemonError("HOST_NOT_READY", `${lock} is held by pid ${holder || "?"}; try again when useradd/usermod is done`);
        sleepSync(LOCK_WAIT_MS);
      }
    }
  } finally {
    unlinkSync(mine);
  }
  try {
    return fn();
  } finally {
    unlinkSync(lock);
  }
}

/**
 * Adds `entry` to the subordinate id file `file` and removes the entries in `remove`, under
 * shadow's lock, replacing the file atomically (same mode and owner; 0644 root when it is new).
 * Returns false when there was nothing to change.
 */
export function updateSubidFile(file: string, entry: SubidEntry | undefined, remove: readonly SubidEntry[] = []): boolean {
  return withFileLock(file, () => {
    const before = readOptional(file);
    const after = editSubidText(before, entry, remove);
    if (after === before) return false;
    let mode = 0o644;
    let owner = { uid: 0, gid: 0 };
    try {
      const st = statSync(file);
      mode = st.mode & 0o7777;
      owner = { uid: st.uid, gid: st.gid };
    } catch {
      /* new file */
    }
    const next = `${file}+`;
    const fd = openSync(next, "w", 0o600);
    try {
      fchmodSync(fd, mode);
      writeFileSync(fd, after);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chownSync(next, owner.uid, owner.gid);
    renameSync(next, file);
    return true;
  });
}
