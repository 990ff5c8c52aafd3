/**
 * `atoll serve` start-up failures as one line naming what is missing and how to fix it
 * (docs/operations.md, "Start-up errors"). The stack trace goes to the debug log, never to the
 * terminal.
 *
 * @example process.stderr.write(`atoll serve: ${describeStartupFailure(err, config)}\n`);
 */
import { HostNotReadyError } from "../doctor/preflight.js";
import { HostCommandError } from "../host/run-command.js";
import { UidRangeError } from "../host/uid-range.js";
import { StartupError } from "../startup-error.js";

const DOCTOR = "run atoll doctor to check the host";

/** The parts of a daemon configuration a message names. */
interface Where {
  stateDir: string;
  host: string;
  port: number;
}

/** Multi-line messages (a UidRangeError lists every holder) folded onto one line. */
function oneLine(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim().replace(/^- /, ""))
    .filter(Boolean)
    .join("; ")
    .replace(/:; /g, ": ");
}

function listenFailure(e: NodeJS.ErrnoException & { address?: string; port?: number }, where: Where): string | undefined {
  if (e.syscall !== "listen" && e.syscall !== "bind") return undefined;
  const address = `${e.address ?? where.host}:${e.port ?? where.port}`;
  const other = "choose another address with --listen HOST:PORT (ATOLL_LISTEN)";
  if (e.code === "EADDRINUSE")
    return `${address} is already in use (another atoll serve? curl http://${address}/healthz) → fix: stop what listens there, or ${other}`;
  if (e.code === "EADDRNOTAVAIL") return `${address} is not an address of this host → fix: ${other}`;
  if (e.code === "EACCES") return `no permission to listen on ${address} → fix: run as root, or ${other}`;
  return `cannot listen on ${address}: ${e.code} → fix: ${other}`;
}

/** What a filesystem error on the state directory means and what to do. */
function fileFailure(e: NodeJS.ErrnoException, where: Where): string | undefined {
  const path = e.path ?? where.stateDir;
  const elsewhere = "or choose another with --state-dir (ATOLL_STATE_DIR)";
  switch (e.code) {
    case "EROFS":
      return `${path} is on a read-only filesystem → fix: remount it read-write, ${elsewhere}`;
    case "ENOSPC":
    case "EDQUOT":
      return `no space left for ${path} → fix: free space on its filesystem, ${elsewhere}`;
    case "EACCES":
    case "EPERM":
      return `no permission to write ${path} → fix: run atoll serve as root, ${elsewhere}`;
    case "ENOTDIR":
    case "EEXIST":
      return `${path} is in the way (not a directory) → fix: move it away, ${elsewhere}`;
    default:
      return undefined;
  }
}

/** better-sqlite3's errors carry SQLITE_* codes. */
function storeFailure(e: { code?: unknown; message: string }, where: Where): string | undefined {
  if (typeof e.code !== "string" || !e.code.startsWith("SQLITE_")) return undefined;
  const store = `${where.stateDir}/atoll.db`;
  if (e.code === "SQLITE_READONLY" || e.code === "SQLITE_CANTOPEN")
    return `the store ${store} cannot be written (${e.code}) → fix: check that the state directory is writable (atoll doctor)`;
  if (e.code === "SQLITE_FULL") return `the store ${store} cannot grow: the disk is full → fix: free space on the state directory's filesystem`;
  if (e.code.startsWith("SQLITE_CORRUPT") || e.code === "SQLITE_NOTADB")
    return `the store ${store} is damaged (${e.code}) → fix: restore it from a backup (docs/operations.md)`;
  return `the store ${store} failed: ${e.message} (${e.code}) → fix: ${DOCTOR}`;
}

/** One line for any error a daemon start can end with. */
export function describeStartupFailure(err: unknown, where: Where): string {
  if (err instanceof HostNotReadyError || err instanceof StartupError) return err.message;
  if (err instanceof UidRangeError) return oneLine(err.message).replace(/; Fix: (.)/, (_, c: string) => ` → fix: ${c.toLowerCase()}`);
  if (err instanceof HostCommandError) {
    return `${err.argv[0]} failed: ${oneLine(err.stderr) || `exit ${err.exitCode ?? "?"}`} → fix: ${DOCTOR}`;
  }
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    const known = listenFailure(e, where) ?? fileFailure(e, where) ?? storeFailure(e, where);
    if (known) return known;
    return `could not start: ${oneLine(err.message.split("\n")[0] ?? "")} → fix: ${DOCTOR}; --log-level debug logs where it failed`;
  }
  return `could not start: ${String(err)} → fix: ${DOCTOR}`;
}
