/** Linux signal names the SDK accepts in `kill()`, so a typo fails at the call, not remotely. */

const NAMES = new Set([
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGIOT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPOLL",
  "SIGPWR",
  "SIGSYS",
]);

/**
 * Checks a signal given as a name ("SIGTERM", "term") or a number (1-64) and returns the form
 * sent on the wire: an upper-case `SIG…` name or the number. Throws TypeError when unknown.
 *
 * @example normaliseSignal("int") === "SIGINT"
 */
export function normaliseSignal(signal: string | number): string | number {
  if (typeof signal === "number") {
    if (Number.isInteger(signal) && signal >= 1 && signal <= 64) return signal;
    throw new TypeError(`kill: ${signal} is not a signal number (1-64)`);
  }
  const upper = String(signal).toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (!NAMES.has(name)) throw new TypeError(`kill: unknown signal ${JSON.stringify(signal)}; use e.g. "SIGTERM", "SIGINT" or "SIGKILL"`);
  return name;
}
