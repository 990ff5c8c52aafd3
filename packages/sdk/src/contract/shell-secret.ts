/**
 * Secret values for `sandbox.sh` (docs/api.md, "Secrets in commands"). A value wrapped with
 * `secret()` is never written into the command text: the script names an environment variable
 * (`"$ATOLL_SH_SECRET_0"`) and the value travels in the process's environment. The command log,
 * error messages and `ShellCommand.script` therefore show the variable, never the value.
 */

const VALUE = new WeakMap<ShellSecret, string>();

/**
 * A value to interpolate into `sandbox.sh` without it appearing in the command text. Made with
 * `secret(value)`; prints as `[secret]`.
 *
 * @example await sandbox.sh`curl -H ${secret(`Authorization: Bearer ${apiKey}`)} https://api.example.com/`;
 */
export class ShellSecret {
  /** @internal Use `secret(value)`. */
  constructor(value: string) {
    if (typeof value !== "string") throw new TypeError(`secret() takes a string, got ${typeof value}`);
    if (value.includes("\0")) throw new TypeError("secret(): the value contains a NUL byte, which no shell argument can hold");
    VALUE.set(this, value);
  }

  toString(): string {
    return "[secret]";
  }

  toJSON(): string {
    return "[secret]";
  }
}

/**
 * Marks a value interpolated into `sandbox.sh` as secret: the command receives it unchanged as
 * one argument, but the command text (what the daemon's command log keeps and shows to every
 * token of the tenant, and what CommandError messages print) holds `"$ATOLL_SH_SECRET_<n>"`
 * instead. The value is passed in that environment variable of the command, so processes the
 * command starts inherit it; it is never stored by the daemon.
 *
 * @example
 *   import { Sandbox, secret } from "atoll";
 *   const token = process.env.GITHUB_TOKEN!;
 *   await sandbox.sh`git clone https://x-access-token:${secret(token)}@github.com/acme/app.git`;
 *   // command log: git clone https://x-access-token:"$ATOLL_SH_SECRET_0"@github.com/acme/app.git
 */
export function secret(value: string): ShellSecret {
  return new ShellSecret(value);
}

/** The value of a ShellSecret (for the `sh` builder). */
export function secretValue(s: ShellSecret): string {
  return VALUE.get(s)!;
}

/** Name of the environment variable that carries the `index`-th secret of a command. */
export function secretVariable(index: number): string {
  return `ATOLL_SH_SECRET_${index}`;
}
