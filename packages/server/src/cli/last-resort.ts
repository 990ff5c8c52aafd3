/**
 * The serve path's last resort: an exception nobody caught, or a promise rejection nobody
 * handled, is logged with its stack and the daemon keeps serving every other tenant. Faults are
 * contained where they happen (a peer's bad bytes end that peer's request, connection or
 * sandbox); this only catches what was missed, so each such log line is a bug to fix.
 *
 * @example installLastResort(daemon.logger);
 */
import type { Logger } from "pino";

export function installLastResort(logger: Logger): void {
  process.on("uncaughtException", (err, origin) => {
    logger.error({ err, origin }, "uncaught exception (a bug); the daemon keeps serving");
  });
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason }, "unhandled promise rejection (a bug); the daemon keeps serving");
  });
}
