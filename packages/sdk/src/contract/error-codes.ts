/**
 * Stable error codes shared by the daemon and the SDK, and the one place that maps each API
 * error code to its HTTP status. Never rename a code: programs match on them.
 */
export const API_ERROR_STATUS = {
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  SANDBOX_NOT_FOUND: 404,
  VOLUME_NOT_FOUND: 404,
  VOLUME_NOT_ATTACHED: 404,
  METHOD_NOT_ALLOWED: 405,
  SANDBOX_NOT_RUNNING: 409,
  VOLUME_NAME_TAKEN: 409,
  VOLUME_IN_USE: 409,
  VOLUME_BUSY: 409,
  VOLUME_ALREADY_ATTACHED: 409,
  MOUNT_PATH_CONFLICT: 409,
  INSUFFICIENT_STORAGE: 409,
  PAYLOAD_TOO_LARGE: 413,
  QUOTA_EXCEEDED: 429,
  // File operations (docs/files.md): what the kernel said, as the sandbox user saw it.
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  IS_A_DIRECTORY: 409,
  NOT_A_DIRECTORY: 409,
  DIRECTORY_NOT_EMPTY: 409,
  READ_ONLY: 403,
  NO_SPACE: 507,
  INTERNAL: 500,
  HOST_ERROR: 500,
  /** sandbox.fetch: the request could not be made from the sandbox's network (blocked, refused, timed out). */
  FETCH_FAILED: 502,
  UNAVAILABLE: 503,
  /**
   * The connection to the daemon broke while a command ran (the daemon restarted, or the network
   * failed): the sandbox and the process may still be running; new commands work once the daemon
   * is back (docs/api.md, "Daemon restarts").
   */
  DAEMON_RESTARTED: 503,
  // Snapshots (issue 14, docs/snapshots.md).
  SNAPSHOT_NOT_FOUND: 404,
  SNAPSHOT_NAME_TAKEN: 409,
  /** A snapshot mounted read-only in a sandbox (or booted from) cannot be deleted (issue 14). */
  SNAPSHOT_IN_USE: 409,
  // Volume backups (issue 17, docs/operations.md "Back up and restore"): an archive that is not a
  // whole, unaltered Atoll volume archive, or whose files could not be restored; details.reason.
  ARCHIVE_INVALID: 400,
} as const satisfies Record<string, number>;

/** A code the daemon can answer with. */
export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

/** Codes raised by the SDK itself, never sent by the daemon. */
export const CLIENT_ERROR_CODES = ["COMMAND_FAILED", "COMMAND_TIMEOUT", "CONNECTION_FAILED", "ABORTED"] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/**
 * Codes of the daemon's internal failures (a host tool failed, a sandbox's helper broke its
 * protocol, the host is not ready…). They are logged with their cause; on the wire every one of
 * them is INTERNAL with a message that names no host path and carries no host tool's output.
 */
export const DAEMON_ERROR_CODES = [
  "HOST_COMMAND_FAILED",
  "EXT4_CHECK_FAILED",
  "LOOP_ALREADY_ATTACHED",
  "UID_RANGE_CONFLICT",
  "AGENT_PROTOCOL_VIOLATION",
  "FS_HELPER_PROTOCOL_VIOLATION",
  "HOST_NOT_READY",
  "STARTUP_FAILED",
  /** A daemon setting (flag, ATOLL_* variable) the operator must fix. */
  "CONFIG_INVALID",
  /** A sandbox could not be started, run or stopped by its runtime (launcher, cgroups, lxcfs, root files). */
  "SANDBOX_RUNTIME_FAILED",
  /** Sandbox networking failed: netd (start, its channel, a request), a sandbox's netns, the DNS forwarder. */
  "NETWORK_FAILED",
  /** Building or deriving a root filesystem image failed. */
  "IMAGE_BUILD_FAILED",
  /** Host state the daemon releases (mounts, cgroups) could not be released. */
  "HOST_CLEANUP_FAILED",
] as const;
export type DaemonErrorCode = (typeof DAEMON_ERROR_CODES)[number];

export type ErrorCode = ApiErrorCode | ClientErrorCode | DaemonErrorCode;

/** HTTP status of an API error code. */
export function statusOf(code: ApiErrorCode): number {
  return API_ERROR_STATUS[code];
}

export function isApiErrorCode(value: unknown): value is ApiErrorCode {
  return typeof value === "string" && Object.hasOwn(API_ERROR_STATUS, value);
}
