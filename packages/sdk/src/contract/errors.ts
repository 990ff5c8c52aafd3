import { type ApiErrorCode, DAEMON_ERROR_CODES, type ErrorCode, isApiErrorCode, statusOf } from "./error-codes.js";

/** Body of every error response: `{ "error": WireError }`. */
export interface WireError {
  code: ApiErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Root of every error Atoll raises, on the daemon and in the SDK. `code` is stable; `message`
 * says what was wrong and what to do; `cause` (ES2022) keeps the error it wraps, if any.
 *
 * @example
 *   try { await Sandbox.deleteVolume(id); }
 *   catch (e) { if (e instanceof AtollError && e.code === "VOLUME_IN_USE") console.log(e.details); }
 */
export class AtollError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
  /** HTTP status for API codes, 500 for the daemon's internal codes, 0 for client-side codes. */
  get status(): number {
    if (isApiErrorCode(this.code)) return statusOf(this.code);
    return isDaemonErrorCode(this.code) ? 500 : 0;
  }
  /**
   * The body a client gets. A code that is not an API code (an internal failure of the daemon)
   * becomes INTERNAL with a fixed message: its message and details may name host paths or carry
   * a host tool's output, which stay in the daemon's log.
   */
  toWire(): WireError {
    if (!isApiErrorCode(this.code)) return internalWireError();
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

function isDaemonErrorCode(code: ErrorCode): boolean {
  return (DAEMON_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * The body of an internal failure: INTERNAL and a message that tells nothing about the host.
 * `ref` (a request id) lets the operator find the failure in the daemon's log.
 */
export function internalWireError(ref?: string): WireError {
  const where = ref ? ` (request ${ref})` : "";
  return { code: "INTERNAL", message: `Internal error${where}: the daemon failed on its side; its log has the details` };
}

/**
 * A volume archive that cannot be imported (ARCHIVE_INVALID): `details.reason` is "format" (not an
 * Atoll volume archive, or a newer format), "truncated", "checksum" (altered or corrupted) or
 * "contents" (its files could not be restored; details.tar has the first lines tar printed).
 *
 * @example
 *   try { await Sandbox.importVolume(stream, { name: "restored" }); }
 *   catch (e) { if (e instanceof ArchiveInvalidError) console.log(e.details?.reason); }
 */
export class ArchiveInvalidError extends AtollError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super("ARCHIVE_INVALID", message, details, options);
  }
}

/** The request was malformed or broke a rule (bad size, mount path, unknown option…). */
export class InvalidArgumentError extends AtollError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super("INVALID_ARGUMENT", message, details, options);
  }
}

/** Missing or wrong API token. */
export class AuthenticationError extends AtollError {}

/** A sandbox, volume or attachment that does not exist (or belongs to another tenant). */
export class NotFoundError extends AtollError {}

/** The request conflicts with the current state (volume in use, name taken, sandbox stopped…). */
export class ConflictError extends AtollError {}

/**
 * The sandbox is not running (code SANDBOX_NOT_RUNNING): it stopped before the request, or
 * while a command ran. `stopReason` says why ("timeout", "killed", …: STOP_REASONS), and the
 * message says it in words ("Sandbox sbx_… stopped: its timeout (5m) expired; …").
 *
 * @example
 *   try { await sandbox.sh`make`; }
 *   catch (e) { if (e instanceof SandboxNotRunningError && e.stopReason === "timeout") console.log("out of time"); }
 */
export class SandboxNotRunningError extends ConflictError {
  /** Why the sandbox stopped, when the daemon said so. */
  get stopReason(): string | null {
    const r = this.details?.stopReason ?? this.details?.reason;
    return typeof r === "string" ? r : null;
  }
}

/** A quota or the host's capacity would be exceeded. */
export class CapacityError extends AtollError {}

/** The daemon failed on its side; the message says what the host reported. */
export class ServerError extends AtollError {}

/**
 * A request made from inside a sandbox's network failed: blocked by `allowNet`, refused, or
 * timed out (`sandbox.fetch`).
 *
 * @example try { await sandbox.fetch("http://localhost:3000/"); } catch (e) { if (e instanceof NetworkError) console.log(e.message); }
 */
export class NetworkError extends AtollError {}

/** The daemon could not be reached or the connection broke. */
export class ConnectionError extends AtollError {
  constructor(
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions,
    code: "CONNECTION_FAILED" | "DAEMON_RESTARTED" = "CONNECTION_FAILED",
  ) {
    super(code, message, details, options);
  }
}

/**
 * The connection to the daemon broke while a command ran (code DAEMON_RESTARTED): the daemon
 * restarted (an upgrade, a crash) or the network between this program and the daemon failed.
 * The sandbox keeps running, and the process may too; its further output and exit status are not
 * known to this program. New commands on the same `Sandbox` object work as soon as the daemon is
 * back (the SDK reconnects by itself for up to a minute).
 *
 * @example
 *   try { await sandbox.sh`make`; }
 *   catch (e) { if (e instanceof DaemonRestartedError) await sandbox.sh`make`; } // run it again
 */
export class DaemonRestartedError extends ConnectionError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, details, options, "DAEMON_RESTARTED");
  }
}

/** Status of a finished command, as `sh` and `spawn` report it. */
export interface CommandStatus {
  success: boolean;
  code: number | null;
  signal: string | null;
  oom: boolean;
}

/** A command ran past its `.timeout(ms)` and was killed. */
export class CommandTimeoutError extends AtollError {
  constructor(command: string, timeoutMs: number) {
    super("COMMAND_TIMEOUT", `Command did not finish within ${timeoutMs} ms and was killed: ${command}`, { timeoutMs });
  }
}

/**
 * A file operation failed the way it would for a process in the sandbox: NOT_FOUND (a
 * NotFoundError), ALREADY_EXISTS, PERMISSION_DENIED, IS_A_DIRECTORY, NOT_A_DIRECTORY,
 * DIRECTORY_NOT_EMPTY, READ_ONLY or NO_SPACE. `details.path` names the path.
 *
 * @example
 *   try { await sandbox.fs.writeTextFile("/data/x", "hi"); }
 *   catch (e) { if (e instanceof FileSystemError && e.code === "READ_ONLY") console.log(e.path, "is read-only"); }
 */
export class FileSystemError extends AtollError {
  /** The path the operation failed on, as the sandbox (or volume) sees it. */
  get path(): string | undefined {
    const p = this.details?.path;
    return typeof p === "string" ? p : undefined;
  }
}

type Decode = (code: ApiErrorCode, message: string, details: Record<string, unknown> | undefined) => AtollError;
type ErrorClass = new (code: ApiErrorCode, message: string, details?: Record<string, unknown>) => AtollError;
const as =
  (Cls: ErrorClass): Decode =>
  (code, message, details) =>
    new Cls(code, message, details);

/** The class the SDK raises for each API code. Exhaustive: a new code must say its class here. */
const DECODE_BY_CODE: Record<ApiErrorCode, Decode> = {
  INVALID_ARGUMENT: (_code, message, details) => new InvalidArgumentError(message, details),
  UNAUTHORIZED: as(AuthenticationError),
  FORBIDDEN: as(AuthenticationError),
  NOT_FOUND: as(NotFoundError),
  SANDBOX_NOT_FOUND: as(NotFoundError),
  VOLUME_NOT_FOUND: as(NotFoundError),
  VOLUME_NOT_ATTACHED: as(NotFoundError),
  METHOD_NOT_ALLOWED: as(AtollError),
  SANDBOX_NOT_RUNNING: as(SandboxNotRunningError),
  VOLUME_NAME_TAKEN: as(ConflictError),
  VOLUME_IN_USE: as(ConflictError),
  VOLUME_BUSY: as(ConflictError),
  VOLUME_ALREADY_ATTACHED: as(ConflictError),
  MOUNT_PATH_CONFLICT: as(ConflictError),
  INSUFFICIENT_STORAGE: as(CapacityError),
  PAYLOAD_TOO_LARGE: as(AtollError),
  QUOTA_EXCEEDED: as(CapacityError),
  ALREADY_EXISTS: as(FileSystemError),
  PERMISSION_DENIED: as(FileSystemError),
  IS_A_DIRECTORY: as(FileSystemError),
  NOT_A_DIRECTORY: as(FileSystemError),
  DIRECTORY_NOT_EMPTY: as(FileSystemError),
  READ_ONLY: as(FileSystemError),
  NO_SPACE: as(FileSystemError),
  INTERNAL: as(ServerError),
  HOST_ERROR: as(ServerError),
  FETCH_FAILED: as(NetworkError),
  UNAVAILABLE: as(ServerError),
  DAEMON_RESTARTED: (_code, message, details) => new DaemonRestartedError(message, details),
  SNAPSHOT_NOT_FOUND: as(NotFoundError),
  SNAPSHOT_NAME_TAKEN: as(ConflictError),
  SNAPSHOT_IN_USE: as(ConflictError),
  ARCHIVE_INVALID: (_code, message, details) => new ArchiveInvalidError(message, details),
};

/** Rebuilds the typed error the daemon sent. Unknown shapes become a ServerError. */
export function errorFromWire(body: unknown, httpStatus: number): AtollError {
  const err = (body as { error?: Partial<WireError> } | null)?.error;
  if (!err || !isApiErrorCode(err.code) || typeof err.message !== "string") {
    return new ServerError("INTERNAL", `The daemon answered HTTP ${httpStatus} without an Atoll error body`);
  }
  return DECODE_BY_CODE[err.code](err.code, err.message, err.details);
}
