import { AtollError } from "atoll/contract";

/**
 * A daemon start that failed at a known step (the base image, sandbox networks): `what`
 * happened and the `fix`, for the one line `atoll serve` prints (cli/startup-failure.ts). The
 * original error stays in `cause` for the debug log.
 *
 * @example
 *   await ensureImage(o).catch((err) => { throw new StartupError(`the base image could not be built: ${err.message}`, "atoll image build", err); });
 */
export class StartupError extends AtollError {
  constructor(
    readonly what: string,
    readonly fix: string,
    cause?: unknown,
  ) {
    super("STARTUP_FAILED", `${what} → fix: ${fix}`, undefined, { cause });
  }
}

/** `fn()`, its failure rethrown as a StartupError with `what` (plus the error's first line) and `fix`. */
export async function startupStep<T>(what: string, fix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).trim().split("\n")[0];
    throw new StartupError(`${what}: ${first}`, fix, err);
  }
}
