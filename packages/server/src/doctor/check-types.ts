/**
 * What `atoll doctor` and the daemon's start-up check work with (docs/operations.md, "atoll
 * doctor"). Every check has two halves: a probe that asks the host (runs the tool, reads the
 * kernel's answer) and a pure judge that turns those facts into a verdict with its fix. Unit
 * tests drive the judges with facts of hosts we do not have (cgroup v2, no loop devices, …).
 */

/**
 * ok: fine. warn: the daemon runs, but something is off (low disk, missing image that the
 * daemon will build). fail: the daemon cannot run until it is fixed. skip: not needed with this
 * configuration, or cannot be judged because another check failed.
 */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** A judge's verdict. */
export interface Verdict {
  status: CheckStatus;
  /** What was found, for people: "bubblewrap 0.8.0", "no /dev/loop-control". */
  detail: string;
  /** What to do, for warn and fail: the apt package, the sysctl, the command. */
  fix?: string;
}

/** One line of the report. */
export interface CheckResult extends Verdict {
  id: string;
  title: string;
}

/** Where and how the daemon would run: what the checks look at. */
export interface DoctorContext {
  stateDir: string;
  imagesDir: string;
  nativeDir: string;
  etcDir: string;
  /** Sandbox networks on (nftables and iproute2 needed). */
  network: boolean;
  /** The API's address; port 0 (tests) is never checked. */
  listen: { host: string; port: number };
  /** --disk-reserve; undefined: the default share of the filesystem. */
  diskReserveBytes: number | undefined;
  /** ATOLL_UID_BASE, when set. */
  requestedUidBase: number | undefined;
  /** Directories host tools are looked up in: the daemon's own PATH (run-command.ts HOST_PATH). */
  searchPath: string;
}

/** Facts shared between checks, gathered once before they run. */
export interface SharedFacts {
  /** The sandbox id range's first id the daemon would use (the default when it cannot decide). */
  uidBase: number;
  /** The base the state directory's files are owned by now, when the daemon would move them. */
  uidFrom?: number;
  /** Why it could not decide (the uid check reports it). */
  uidPlanError?: string;
}

/** One check: `run` probes and judges; it never throws (a probe error is a verdict). */
export interface Check {
  id: string;
  title: string;
  /** Also run at every daemon start (doctor/preflight.ts). */
  atStart: boolean;
  run(ctx: DoctorContext, facts: SharedFacts): Promise<Verdict>;
}

export const ok = (detail: string): Verdict => ({ status: "ok", detail });
export const warn = (detail: string, fix: string): Verdict => ({ status: "warn", detail, fix });
export const fail = (detail: string, fix: string): Verdict => ({ status: "fail", detail, fix });
export const skip = (detail: string): Verdict => ({ status: "skip", detail });
