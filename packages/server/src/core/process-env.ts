import { posix } from "node:path";

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Home and default working directory of commands, as in Deno Sandbox. */
export const APP_HOME = "/home/app";

/**
 * The environment a command starts with: defaults for its user, then the sandbox's env, then
 * the command's own. `clearEnv` keeps only the command's own variables.
 *
 * @example processEnv("app", { CI: "1" }, { DEBUG: "x" }, false).HOME === "/home/app"
 */
export function processEnv(
  user: "app" | "root",
  sandboxEnv: Record<string, string>,
  commandEnv: Record<string, string> | undefined,
  clearEnv: boolean,
  /** Who "app" is in a sandbox booted from an imported image (its User), if not Atoll's app. */
  as?: { name: string; home: string },
): Record<string, string> {
  if (clearEnv) return { ...commandEnv };
  const home = as?.home ?? (user === "root" ? "/root" : APP_HOME);
  const name = as?.name ?? user;
  return {
    PATH,
    HOME: home,
    USER: name,
    LOGNAME: name,
    SHELL: "/bin/bash",
    LANG: "C.UTF-8",
    ...sandboxEnv,
    ...commandEnv,
  };
}

/** Resolves a command's cwd: relative paths are relative to `base` (default /home/app; an imported image's WorkingDir). */
export function resolveCwd(cwd: string | undefined, base: string = APP_HOME): string {
  if (!cwd) return base;
  return posix.resolve(base, cwd);
}
