/**
 * The daemon's start-up check: the doctor's checks marked `atStart` (kernel features, cgroups,
 * host tools, native helpers, a test sandbox, the state directory and its disk), run before the
 * daemon creates anything on the host. A failure stops the start with one line naming what is
 * missing and its fix (HostNotReadyError), instead of a stack trace from the first tool that
 * was not there — or a daemon that starts and then fails every sandbox.
 *
 * @example await assertHostReady(config, uidPlan.base, logger);
 */
import type { Logger } from "pino";
import { AtollError } from "atoll/contract";
import type { DaemonConfig } from "../daemon-config.js";
import type { CheckResult } from "./check-types.js";
import { ALL_CHECKS, doctorContext, runDoctor } from "./doctor.js";
import { failureLine } from "./doctor-report.js";

/** The host cannot run the daemon; `message` is one line with the fix. Internal (HOST_NOT_READY). */
export class HostNotReadyError extends AtollError {
  constructor(readonly failed: readonly CheckResult[]) {
    super("HOST_NOT_READY", failureLine(failed));
  }
}

/** Runs the start-up checks for `config` with the sandbox id range `uidBase`; throws HostNotReadyError. */
export async function assertHostReady(config: DaemonConfig, uidBase: number, logger?: Logger): Promise<void> {
  const report = await runDoctor(
    doctorContext(config),
    ALL_CHECKS.filter((c) => c.atStart),
    { uidBase },
  );
  for (const c of report.checks) if (c.status === "warn") logger?.warn({ check: c.id, fix: c.fix }, `${c.title}: ${c.detail}`);
  logger?.debug({ checks: report.checks, durationMs: report.durationMs }, "host checks");
  const failed = report.checks.filter((c) => c.status === "fail");
  if (failed.length > 0) throw new HostNotReadyError(failed);
}
