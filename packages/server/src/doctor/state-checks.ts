/**
 * The daemon's own ground: the state directory (there or creatable, writable, reachable by
 * sandbox root on its way to sandbox roots), the free disk under it against the disk budget's
 * reserve (host/disk-budget.ts), and the sandbox id range (host/uid-range.ts).
 */
import { type Stats, closeSync, constants, accessSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { formatBytes } from "atoll/contract";
import { defaultReserve } from "../host/disk-budget.js";
import { statfsUsage } from "../host/mounts.js";
import { type HostIds, readHostIds } from "../host/subid-files.js";
import { RESERVATION_OWNER, RESERVED_ID_COUNT, formatRange } from "../host/uid-range.js";
import { type Check, type Verdict, fail, ok, warn } from "./check-types.js";
import { errnoText } from "./host-probes.js";

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** Below this the store and the token cannot even be written: the daemon cannot start. */
export const MIN_FREE_BYTES = 64 * MIB;
/** Less room than this above the reserve: a warning (a few default sandbox roots, no volumes). */
export const LOW_ROOM_BYTES = GIB;

/** Owner and mode of one directory. */
export interface DirMode {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Whether host uid/gid `id` (no supplementary groups) may pass through `d`. */
export function searchableBy(d: DirMode, id: number): boolean {
  const bit = d.uid === id ? 0o100 : d.gid === id ? 0o010 : 0o001;
  return (d.mode & bit) !== 0;
}

/** The first directory in `dirs` that sandbox root (host id `id`) cannot pass through, as a verdict; undefined when all can be passed. */
export function traversalProblem(dirs: readonly DirMode[], id: number, what: string): Verdict | undefined {
  const blocked = dirs.find((d) => !searchableBy(d, id));
  if (!blocked) return undefined;
  return fail(
    `${blocked.path} (mode ${(blocked.mode & 0o777).toString(8)}, owner ${blocked.uid}:${blocked.gid}) keeps sandbox root (host uid ${id}) from reaching ${what}`,
    `chmod o+x ${blocked.path}, or move ${what} below directories everyone may pass through`,
  );
}

/** What the host said about the state directory. */
export interface StateDirFacts {
  stateDir: string;
  /** The state directory itself, when it exists. */
  self?: { isDirectory: boolean; mode: number; uid: number; gid: number };
  /** Its nearest existing ancestor, when it does not exist. */
  ancestor?: string;
  /** Why a file cannot be created there (the probe write, or access(W_OK) on the ancestor). */
  notWritable?: string;
  /** The existing directories above it. */
  parents: DirMode[];
  uidBase: number;
}

export function judgeStateDir(f: StateDirFacts): Verdict {
  const elsewhere = "or choose another with --state-dir / ATOLL_STATE_DIR";
  if (f.self && !f.self.isDirectory) return fail(`${f.stateDir} exists and is not a directory`, `remove it, ${elsewhere}`);
  if (f.notWritable) {
    const where = f.self ? f.stateDir : `${f.ancestor} (where ${f.stateDir} would be created)`;
    const fix = /EROFS/.test(f.notWritable)
      ? `remount that filesystem read-write (mount -o remount,rw …), ${elsewhere}`
      : /ENOSPC|EDQUOT/.test(f.notWritable)
        ? `free space on that filesystem, ${elsewhere}`
        : `run as root, ${elsewhere}`;
    return fail(`cannot write ${where}: ${f.notWritable}`, fix);
  }
  const blocked = traversalProblem(f.parents, f.uidBase, "the sandboxes' root filesystems");
  if (blocked) return blocked;
  if (!f.self) return ok(`${f.stateDir} will be created`);
  const mode = `${(f.self.mode & 0o777).toString(8).padStart(4, "0")} ${f.self.uid}:${f.self.gid}`;
  const expected = f.self.uid === 0 && f.self.gid === f.uidBase && (f.self.mode & 0o777) === 0o710;
  return ok(`${f.stateDir} is writable (mode ${mode}${expected ? "" : `; the daemon sets 0710 0:${f.uidBase} at start`})`);
}

/** Each existing directory above `p`, outermost last. */
export function parentModes(p: string): DirMode[] {
  const out: DirMode[] = [];
  for (let dir = dirname(p); ; dir = dirname(dir)) {
    try {
      const st = statSync(dir);
      out.push({ path: dir, mode: st.mode, uid: st.uid, gid: st.gid });
    } catch {
      // not there (yet): created by the daemon with mode 0711
    }
    if (dir === "/") return out;
  }
}

/** Creates and removes a small file in `dir`: the daemon's first writes (token, store) would fail the same way. */
function probeWrite(dir: string): string | undefined {
  const file = join(dir, `.atoll-doctor-${process.pid}`);
  try {
    const fd = openSync(file, "wx", 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096));
    } finally {
      closeSync(fd);
      unlinkSync(file);
    }
    return undefined;
  } catch (err) {
    return errnoText(err);
  }
}

export function probeStateDir(stateDir: string, uidBase: number): StateDirFacts {
  const parents = parentModes(stateDir);
  let st: Stats;
  try {
    st = statSync(stateDir);
  } catch {
    const ancestor = parents[0]?.path ?? "/";
    let notWritable: string | undefined;
    try {
      accessSync(ancestor, constants.W_OK);
    } catch (err) {
      notWritable = errnoText(err);
    }
    return { stateDir, ancestor, parents, uidBase, ...(notWritable ? { notWritable } : {}) };
  }
  const self = { isDirectory: st.isDirectory(), mode: st.mode, uid: st.uid, gid: st.gid };
  const notWritable = self.isDirectory ? probeWrite(stateDir) : undefined;
  return { stateDir, self, parents, uidBase, ...(notWritable ? { notWritable } : {}) };
}

/** Space on the state directory's filesystem (statfs of the directory, or of the ancestor it would be created in). */
export interface DiskFacts {
  path: string;
  totalBytes: number;
  availableBytes: number;
  freeInodes: number;
  /** --disk-reserve, or undefined for the default share. */
  reserveBytes: number | undefined;
}

export function judgeDisk(f: DiskFacts): Verdict {
  const reserve = f.reserveBytes ?? defaultReserve(f.totalBytes);
  const free = formatBytes(f.availableBytes);
  const elsewhere = "free space there, or choose --state-dir on a larger filesystem";
  if (f.availableBytes < MIN_FREE_BYTES || f.freeInodes === 0) {
    return fail(`the filesystem of ${f.path} is full (${free} free${f.freeInodes === 0 ? ", no inodes left" : ""})`, elsewhere);
  }
  const room = f.availableBytes - reserve;
  const summary = `${free} free under ${f.path}, ${formatBytes(reserve)} kept in reserve`;
  if (room < LOW_ROOM_BYTES) {
    return warn(
      `${summary}: ${room > 0 ? `only ${formatBytes(room)}` : "nothing"} left for volumes and sandbox roots`,
      `${elsewhere}${f.reserveBytes !== undefined ? ", or lower --disk-reserve" : ""}`,
    );
  }
  return ok(summary);
}

async function probeDisk(stateDir: string, reserveBytes: number | undefined): Promise<DiskFacts | string> {
  const path = [stateDir, ...parentModes(stateDir).map((d) => d.path)].find((p) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  })!;
  try {
    const { totalBytes, availableBytes, freeInodes } = await statfsUsage(path);
    return { path, totalBytes, availableBytes, freeInodes, reserveBytes };
  } catch (err) {
    return errnoText(err);
  }
}

/** `plan`: the base the daemon would use, or why it would refuse (UidRangeError's message). */
export function judgeUidRange(plan: { base: number; from?: number } | { error: string }, host: HostIds): Verdict {
  if ("error" in plan) {
    const [first, ...rest] = plan.error.split("\n");
    const fix = rest.find((l) => l.startsWith("Fix: "))?.slice(5) ?? 'see docs/operations.md, "The sandbox id range"';
    const holders = rest.filter((l) => l.startsWith("  - ")).map((l) => l.slice(4).replace(/ \(usermod.*\)$/, ""));
    return fail(`${first}${holders.length ? ` ${holders.join("; ")}` : ""}`, fix);
  }
  const range = formatRange(plan.base, RESERVED_ID_COUNT);
  const moving = plan.from !== undefined ? `; the daemon moves the sandbox files from base ${plan.from} at start` : "";
  const reserved = (["subuid", "subgid"] as const).every((f) =>
    host[f].some((e) => e.owner === RESERVATION_OWNER && e.start === plan.base && e.count === RESERVED_ID_COUNT),
  );
  if (!reserved)
    return warn(
      `${range} is free but not reserved in ${host.dir}/subuid and subgid yet${moving}`,
      "npm run setup, or start the daemon: both reserve it (useradd then allocates around it)",
    );
  return ok(`${range}, free and reserved in ${host.dir}/subuid and subgid${moving}`);
}

export const stateChecks: Check[] = [
  { id: "state-dir", title: "state directory", atStart: true, run: async (ctx, facts) => judgeStateDir(probeStateDir(ctx.stateDir, facts.uidBase)) },
  {
    id: "disk",
    title: "free disk",
    atStart: true,
    run: async (ctx) => {
      const facts = await probeDisk(ctx.stateDir, ctx.diskReserveBytes);
      return typeof facts === "string"
        ? fail(`cannot measure the state directory's filesystem: ${facts}`, "check the state directory (see above)")
        : judgeDisk(facts);
    },
  },
  {
    id: "uid-range",
    title: "sandbox id range",
    atStart: false, // the daemon decides and reserves it itself, with its own message
    run: async (ctx, facts) => {
      let host: HostIds;
      try {
        host = readHostIds(ctx.etcDir);
      } catch (err) {
        return fail(`cannot read ${ctx.etcDir}/passwd, group, subuid, subgid: ${errnoText(err)}`, "run as root");
      }
      return judgeUidRange(
        facts.uidPlanError !== undefined
          ? { error: facts.uidPlanError }
          : { base: facts.uidBase, ...(facts.uidFrom !== undefined ? { from: facts.uidFrom } : {}) },
        host,
      );
    },
  },
];
