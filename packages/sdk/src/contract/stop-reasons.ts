/**
 * Why a sandbox stopped, in words: `SandboxInfo.stopReason`, the session's `sandbox_stopped`
 * message and `details.stopReason` of SANDBOX_NOT_RUNNING errors carry one of these stable
 * strings; the daemon and the SDK word them the same way.
 */

/**
 * Every reason the daemon gives, with what it means (`protocol-error: …` adds the detail).
 *
 * @example if ((await sandbox.info()).stopReason === "timeout") console.log(STOP_REASONS.timeout);
 */
export const STOP_REASONS = {
  timeout: "its timeout expired",
  killed: "it was killed (sandbox.kill(), DELETE /v1/sandboxes/:id or atoll sandbox kill)",
  "session-closed": 'the program that created it closed its session (timeout "session")',
  "session-never-connected": 'the program that created it never opened its session (timeout "session")',
  "daemon-shutdown": "the daemon shut down",
  "daemon-restart": "the daemon restarted",
  "init-exited": "its init process exited",
  "expose-failed": "its port could not be exposed",
} as const satisfies Record<string, string>;

/** One of STOP_REASONS' keys. @example const r: StopReason = "timeout"; */
export type StopReason = keyof typeof STOP_REASONS;

/**
 * What happened, for a message: "its timeout (3s) expired". `timeout` is the sandbox's timeout
 * setting (SandboxInfo.timeout), named when the timeout is the reason.
 *
 * @example describeStopReason("timeout", "3s") // "its timeout (3s) expired"
 */
export function describeStopReason(reason: string, timeout?: string | null): string {
  if (reason === "timeout") return `its timeout${timeout && timeout !== "session" ? ` (${timeout})` : ""} expired`;
  if (reason.startsWith("protocol-error")) return `its control channel failed (${reason})`;
  return (STOP_REASONS as Record<string, string>)[reason] ?? reason;
}

/**
 * The message of SANDBOX_NOT_RUNNING for a sandbox that stopped: before a command
 * (`while: "starting"`) or under a running one (`while: "running"`).
 *
 * @example sandboxStoppedMessage("sbx_1", "timeout", "3s") // "Sandbox sbx_1 stopped: its timeout (3s) expired; create a new sandbox (…)"
 */
export function sandboxStoppedMessage(sandboxId: string, reason: string, timeout?: string | null, when: "starting" | "running" = "starting"): string {
  const what = describeStopReason(reason, timeout);
  if (when === "running") return `Sandbox ${sandboxId} stopped while the command was running: ${what}`;
  const hint = reason === "timeout" ? " (give it a longer timeout in Sandbox.create, or extend it before it expires: sandbox.extendTimeout())" : "";
  return `Sandbox ${sandboxId} stopped: ${what}; create a new sandbox${hint}`;
}
