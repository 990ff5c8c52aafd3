import { AtollError, type DaemonErrorCode } from "atoll/contract";

/**
 * An internal failure of the daemon with a stable code (DAEMON_ERROR_CODES: CONFIG_INVALID,
 * SANDBOX_RUNTIME_FAILED, NETWORK_SETUP_FAILED, …) instead of a plain Error. Its message may
 * name host paths: a client that meets it gets INTERNAL, the log keeps the message and `cause`.
 *
 * @example
 *   throw new DaemonError("NETWORK_SETUP_FAILED", `netd did not start within ${ms} ms`);
 *   throw new DaemonError("SANDBOX_RUNTIME_FAILED", `sandbox ${id} failed to start: ${err.message}`, { cause: err });
 */
export class DaemonError extends AtollError {
  constructor(code: DaemonErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, undefined, options);
  }
}
