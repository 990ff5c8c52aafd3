/**
 * `atoll doctor`: every check of the host, run in parallel (each probe has its own deadline, so
 * the whole takes well under a second or two), in a fixed order for the report. The daemon runs
 * the checks marked `atStart` before it creates anything (doctor/preflight.ts).
 *
 * @example
 *   const report = await runDoctor(doctorContext(resolveConfig({})));
 *   process.exitCode = report.ok ? 0 : 1;
 */
import type { DaemonConfig } from "../daemon-config.js";
import { HOST_PATH } from "../host/run-command.js";
import { readHostIds } from "../host/subid-files.js";
import { planForStateDir } from "../host/uid-range.js";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import { cgroupCheck } from "./cgroup-check.js";
import type { Check, CheckResult, DoctorContext, SharedFacts } from "./check-types.js";
import { PROBE_TIMEOUT_MS } from "./host-probes.js";
import { kernelChecks } from "./kernel-checks.js";
import { setupChecks } from "./setup-checks.js";
import { stateChecks } from "./state-checks.js";
import { storeCheck } from "./store-check.js";
import { toolChecks } from "./tool-checks.js";
import { DaemonError } from "../daemon-error.js";

/** Every check, in report order. */
export const ALL_CHECKS: readonly Check[] = [
  ...kernelChecks, // root, kernel, user namespaces, overlayfs, loop devices, seccomp, pidfd
  cgroupCheck,
  ...toolChecks,
  ...setupChecks,
  ...stateChecks,
  storeCheck,
];

/** What `atoll doctor` found. */
export interface DoctorReport {
  /** No check failed: the daemon can run here (warnings allowed). */
  ok: boolean;
  checks: CheckResult[];
  durationMs: number;
}

/** The checks' view of a daemon configuration (the same flags and variables as `atoll serve`). */
export function doctorContext(config: DaemonConfig): DoctorContext {
  return {
    stateDir: config.stateDir,
    imagesDir: config.imagesDir,
    nativeDir: config.nativeDir,
    etcDir: config.etcDir,
    network: config.net.enabled,
    listen: { host: config.host, port: config.port },
    diskReserveBytes: config.disk.reserveBytes,
    requestedUidBase: config.uidBase,
    searchPath: HOST_PATH,
  };
}

/** The sandbox id range the daemon would use; its refusal is reported by the uid check. */
export function sharedFacts(ctx: DoctorContext): SharedFacts {
  try {
    const plan = planForStateDir(ctx.stateDir, ctx.requestedUidBase, readHostIds(ctx.etcDir));
    return { uidBase: plan.base, ...(plan.from !== undefined ? { uidFrom: plan.from } : {}) };
  } catch (err) {
    return { uidBase: ctx.requestedUidBase ?? DEFAULT_UID_BASE, uidPlanError: (err as Error).message };
  }
}

/** Runs one check; a check that throws or hangs fails with what happened instead of ending the doctor. */
async function runCheck(check: Check, ctx: DoctorContext, facts: SharedFacts): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonError("HOST_NOT_READY", `no answer within ${(2 * PROBE_TIMEOUT_MS) / 1000} s`)), 2 * PROBE_TIMEOUT_MS);
  });
  try {
    const verdict = await Promise.race([check.run(ctx, facts), deadline]);
    return { id: check.id, title: check.title, ...verdict };
  } catch (err) {
    return {
      id: check.id,
      title: check.title,
      status: "fail",
      detail: `the check itself failed: ${(err as Error).message}`,
      fix: "report this as a bug of atoll doctor",
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `checks` (default: all) in parallel; results in the checks' order. */
export async function runDoctor(ctx: DoctorContext, checks: readonly Check[] = ALL_CHECKS, facts: SharedFacts = sharedFacts(ctx)): Promise<DoctorReport> {
  const started = performance.now();
  const results = await Promise.all(checks.map((c) => runCheck(c, ctx, facts)));
  return { ok: results.every((r) => r.status !== "fail"), checks: results, durationMs: Math.round(performance.now() - started) };
}
