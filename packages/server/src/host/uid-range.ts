/**
 * Which host ids Atoll's sandboxes run as (docs/operations.md, "The sandbox id range").
 *
 * Sandbox uid/gid 0..65535 map to host [base, base+65536); the next 65536 ids,
 * [base+65536, base+131072), are the owners of the sandboxes' user namespaces. No one else on the
 * host may hold any of these ids: a user whose /etc/subuid range covers them can map them in a
 * user namespace of their own and own every sandbox's files and processes. So the daemon
 *
 * - picks a base outside the usual allocations by default (DEFAULT_UID_BASE: above systemd's
 *   container range and useradd's SUB_UID_MAX, below Podman's "containers" range and 2^31);
 * - keeps the base a state directory was made with (recorded in `<state>/uid-base`; state
 *   directories of earlier versions used 100000), unless the host gave those ids to someone,
 *   in which case it moves the sandbox files to the default range at start (id-shift.ts);
 * - refuses to start when the range it would use overlaps an /etc/subuid or /etc/subgid entry,
 *   a user or group of /etc/passwd or /etc/group, or when a user named "atoll" exists, and says
 *   which and how to fix it;
 * - reserves its range in /etc/subuid and /etc/subgid as `atoll:BASE:131072`, so useradd never
 *   hands it out.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AtollError } from "atoll/contract";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import type { HostIds, SubidEntry } from "./subid-files.js";

/** Sandbox uids/gids 0..65535. */
export const SANDBOX_ID_COUNT = 65_536;
/** Sandbox ids plus one user-namespace owner per sandbox: what Atoll reserves. */
export const RESERVED_ID_COUNT = 2 * SANDBOX_ID_COUNT;
/** The base every state directory made before the base was recorded used. */
export const LEGACY_UID_BASE = 100_000;
/** Owner of Atoll's entries in /etc/subuid and /etc/subgid. */
export const RESERVATION_OWNER = "atoll";
/** Highest valid id is 2^32-2 ((uid_t)-1 is special). */
const MAX_ID = 0xffff_fffe;

/** `<state>/uid-base`: the base a state directory's files are owned by. */
export interface UidRecord {
  base: number;
  /** Set while a move to another base is under way (finished at the next start if interrupted). */
  movingTo?: number;
}

/** What the daemon will run with, and whether sandbox files must move there first. */
export interface UidPlan {
  base: number;
  /** The base the state directory's volumes are owned by now, when they must be moved. */
  from?: number;
  /** Why this base, for the log. */
  reason: string;
}

/** A start refused because of the sandbox id range; the message says what to do. Internal (UID_RANGE_CONFLICT). */
export class UidRangeError extends AtollError {
  constructor(message: string) {
    super("UID_RANGE_CONFLICT", message);
  }
}

/** `a–b` of the ids [start, start+count). */
export function formatRange(start: number, count: number): string {
  return `${start}–${start + count - 1}`;
}

/** The entry that reserves Atoll's range with `base`. */
export function reservationEntry(base: number): SubidEntry {
  return { owner: RESERVATION_OWNER, start: base, count: RESERVED_ID_COUNT };
}

function overlaps(a: number, aCount: number, b: number, bCount: number): boolean {
  return a < b + bCount && b < a + aCount;
}

/**
 * Everything on the host that holds an id of [base, base+131072), as readable lines. Atoll's
 * own reservations (owner "atoll") do not count; a user named "atoll" does (newuidmap would let
 * them map those reservations).
 */
export function findIdConflicts(base: number, host: HostIds): string[] {
  const out: string[] = [];
  for (const [file, entries] of [
    ["subuid", host.subuid],
    ["subgid", host.subgid],
  ] as const) {
    for (const e of entries) {
      if (e.owner === RESERVATION_OWNER || !overlaps(base, RESERVED_ID_COUNT, e.start, e.count)) continue;
      out.push(
        `${join(host.dir, file)} gives ${e.owner} ${formatRange(e.start, e.count)} (usermod --del-sub${file === "subuid" ? "uids" : "gids"} ${e.start}-${e.start + e.count - 1} ${e.owner})`,
      );
    }
  }
  for (const u of host.users) {
    if (overlaps(base, RESERVED_ID_COUNT, u.id, 1)) out.push(`${join(host.dir, "passwd")}: user ${u.name} has uid ${u.id}`);
  }
  for (const g of host.groups) {
    if (overlaps(base, RESERVED_ID_COUNT, g.id, 1)) out.push(`${join(host.dir, "group")}: group ${g.name} has gid ${g.id}`);
  }
  const named = host.users.find((u) => u.name === RESERVATION_OWNER);
  if (named) out.push(`user ${RESERVATION_OWNER} (uid ${named.id}) exists: newuidmap would let it map Atoll's reserved range (remove or rename that user)`);
  return out;
}

/** The first base at or above DEFAULT_UID_BASE (in steps of 65536) that nothing on the host holds. */
export function firstFreeBase(host: HostIds): number | undefined {
  for (let base = DEFAULT_UID_BASE; base + RESERVED_ID_COUNT - 1 <= MAX_ID; base += SANDBOX_ID_COUNT) {
    if (findIdConflicts(base, host).length === 0) return base;
  }
  return undefined;
}

/** Throws unless `base` is a usable first id of the range. */
export function assertValidBase(base: number, what: string): void {
  if (!Number.isInteger(base) || base < SANDBOX_ID_COUNT || base + RESERVED_ID_COUNT - 1 > MAX_ID) {
    throw new UidRangeError(
      `${what} must be an integer from ${SANDBOX_ID_COUNT} to ${MAX_ID - RESERVED_ID_COUNT + 1} (the range needs ${RESERVED_ID_COUNT} ids above the host's regular users), got ${base}`,
    );
  }
}

function conflictError(base: number, why: string, conflicts: readonly string[], host: HostIds): UidRangeError {
  const free = firstFreeBase(host);
  const fix = [
    free === undefined
      ? undefined
      : `set ATOLL_UID_BASE=${free} (free: ${formatRange(free, RESERVED_ID_COUNT)})${free === DEFAULT_UID_BASE ? " or unset it" : ""}`,
    "or take those ids away from their holders",
  ].filter(Boolean);
  return new UidRangeError(
    `Atoll's sandbox id range ${formatRange(base, RESERVED_ID_COUNT)} (${why}) overlaps ids this host gave others:\n` +
      conflicts.map((c) => `  - ${c}\n`).join("") +
      `Whoever holds a sandbox id can own every sandbox's files and processes, so the daemon does not start.\n` +
      `Fix: ${fix.join(", ")}.`,
  );
}

/**
 * Decides the base for this start. `requested` is ATOLL_UID_BASE; `existingState` says the
 * state directory holds data of an earlier run (its store existed) — without a record, such a
 * directory was made with base 100000 (or ATOLL_UID_BASE, which earlier versions also read).
 * Throws UidRangeError when no safe base can be chosen.
 */
export function planUidBase(input: { record: UidRecord | undefined; existingState: boolean; requested: number | undefined; host: HostIds }): UidPlan {
  const { record, requested, host } = input;
  if (requested !== undefined) assertValidBase(requested, "ATOLL_UID_BASE");
  const check = (base: number, why: string) => {
    const conflicts = findIdConflicts(base, host);
    if (conflicts.length > 0) throw conflictError(base, why, conflicts, host);
  };
  if (record?.movingTo !== undefined) {
    if (requested !== undefined && requested !== record.movingTo) {
      throw new UidRangeError(
        `a move of the sandbox files from ${record.base} to ${record.movingTo} is unfinished; set ATOLL_UID_BASE=${record.movingTo} (or unset it) so the daemon can finish it first`,
      );
    }
    check(record.movingTo, "the unfinished move's target");
    return { base: record.movingTo, from: record.base, reason: "finishing an interrupted move" };
  }
  const current = record?.base ?? (input.existingState ? (requested ?? LEGACY_UID_BASE) : undefined);
  let base: number;
  let reason: string;
  if (requested !== undefined) {
    check(requested, "ATOLL_UID_BASE");
    [base, reason] = [requested, "ATOLL_UID_BASE"];
  } else if (current !== undefined && findIdConflicts(current, host).length === 0) {
    [base, reason] = [current, record ? "recorded in the state directory" : "the range of earlier versions (100000), free on this host"];
  } else {
    check(
      DEFAULT_UID_BASE,
      current === undefined ? "the default" : `the default; the state directory's range ${formatRange(current, RESERVED_ID_COUNT)} is taken`,
    );
    [base, reason] = [
      DEFAULT_UID_BASE,
      current === undefined
        ? "default for a new state directory"
        : `the state directory's range ${formatRange(current, RESERVED_ID_COUNT)} overlaps ids the host gave others`,
    ];
  }
  if (current === undefined || current === base) return { base, reason };
  if (overlaps(current, SANDBOX_ID_COUNT, base, SANDBOX_ID_COUNT)) {
    throw new UidRangeError(
      `cannot move the sandbox files from base ${current} to ${base}: the two ranges overlap; choose an ATOLL_UID_BASE at least ${SANDBOX_ID_COUNT} away from ${current}`,
    );
  }
  return { base, from: current, reason };
}

const RECORD_FILE = "uid-base";

/** Reads `<state>/uid-base`, or undefined when the state directory has none. */
export function readUidRecord(stateDir: string): UidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDir, RECORD_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<UidRecord>;
  if (!Number.isInteger(parsed.base) || (parsed.movingTo !== undefined && !Number.isInteger(parsed.movingTo))) {
    throw new UidRangeError(
      `${join(stateDir, RECORD_FILE)} is damaged (${text.trim()}); it must hold {"base": N} with the base the state directory's files are owned by`,
    );
  }
  return { base: parsed.base!, ...(parsed.movingTo !== undefined ? { movingTo: parsed.movingTo } : {}) };
}

/** Writes `<state>/uid-base` atomically (mode 0600). */
export function writeUidRecord(stateDir: string, record: UidRecord): void {
  const file = join(stateDir, RECORD_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * planUidBase for the state directory `stateDir` and the host ids of `etcDir`, read from disk.
 * Call before the store is opened: a state directory whose store exists but has no record was
 * made by an earlier version.
 */
export function planForStateDir(stateDir: string, requested: number | undefined, host: HostIds): UidPlan {
  return planUidBase({ record: readUidRecord(stateDir), existingState: existsSync(join(stateDir, "atoll.db")), requested, host });
}
