/**
 * Shared plumbing of the client subcommands: an SDK Client from the root `--url`/`--token`
 * options, and the action wrapper that prints `error [CODE]: message` and exits 1 on failure.
 */
import { AtollError, Client } from "atoll";
import type { Command } from "commander";

/** A Client for the daemon the root options (or ATOLL_URL / ATOLL_TOKEN / token file) point at. */
export function clientFrom(program: Command): Client {
  const { url, token } = program.opts<{ url?: string; token?: string }>();
  return new Client({ url, token });
}

/** Prints an error the way every client subcommand does. */
export function printError(err: unknown): void {
  if (err instanceof AtollError) process.stderr.write(`error [${err.code}]: ${err.message}\n`);
  else process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
}

/**
 * Wraps a subcommand action: a thrown error is printed and the exit code becomes 1; a returned
 * number becomes the exit code.
 *
 * @example cmd.action(clientAction(async (name) => { … }));
 */
// biome-ignore lint/suspicious/noConfusingVoidType: an action returns an exit code or nothing (a plain async function)
export function clientAction<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === "number") process.exitCode = code;
    } catch (err) {
      printError(err);
      process.exitCode = 1;
    }
  };
}

/** Commander collector for repeatable options (`--label a=1 --label b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses `KEY=VALUE` pairs; throws a clear error for a pair without `=`. */
export function parsePairs(pairs: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new AtollError("INVALID_ARGUMENT", `${what} "${pair}" must look like KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
