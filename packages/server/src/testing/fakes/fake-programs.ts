/**
 * The commands a FakeRuntime sandbox can run, in process: a few coreutils with the behaviour the
 * runtime contract suite and core's tests rely on (exit codes, stdout/stderr, stdin, env, cwd,
 * user). A command that is not here fails to start with ENOENT, as a missing binary does.
 * Tests may add their own (FakeRuntime's `programs` option).
 */

/** What a fake program sees and does: its request, its streams, the sandbox's files. */
export interface FakeProcessContext {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
  user: "app" | "root";
  stdout(data: string | Uint8Array): void;
  stderr(data: string | Uint8Array): void;
  /** The next chunk of stdin, or null at end of input (closed, or no stdin pipe). */
  readStdin(): Promise<Uint8Array | null>;
  /** A file as the sandbox sees it (through its mounts), undefined when there is none. */
  readFile(path: string): Uint8Array | undefined;
  /** Resolves after `ms`; never, once the process was killed (its timer is cleared). */
  sleep(ms: number): Promise<void>;
}

/** Runs to completion and returns the exit code. */
export type FakeProgram = (p: FakeProcessContext) => Promise<number>;

const absolute = (cwd: string, p: string) => (p.startsWith("/") ? p : `${cwd.replace(/\/$/, "")}/${p}`);

export const BUILTIN_PROGRAMS: Readonly<Record<string, FakeProgram>> = {
  true: async () => 0,
  false: async () => 1,
  echo: async (p) => {
    p.stdout(`${p.argv.slice(1).join(" ")}\n`);
    return 0;
  },
  pwd: async (p) => {
    p.stdout(`${p.cwd}\n`);
    return 0;
  },
  id: async (p) => {
    if (p.argv[1] !== "-u") {
      p.stderr("id: only -u is supported by the fake runtime\n");
      return 1;
    }
    p.stdout(p.user === "root" ? "0\n" : "1000\n");
    return 0;
  },
  printenv: async (p) => {
    const value = p.env[p.argv[1] ?? ""];
    if (value === undefined) return 1;
    p.stdout(`${value}\n`);
    return 0;
  },
  sleep: async (p) => {
    const seconds = Number(p.argv[1]);
    if (!Number.isFinite(seconds) || seconds < 0) {
      p.stderr(`sleep: invalid time interval '${p.argv[1] ?? ""}'\n`);
      return 1;
    }
    await p.sleep(seconds * 1000);
    return 0;
  },
  cat: async (p) => {
    if (p.argv.length === 1) {
      for (let chunk = await p.readStdin(); chunk; chunk = await p.readStdin()) p.stdout(chunk);
      return 0;
    }
    let code = 0;
    for (const name of p.argv.slice(1)) {
      const data = p.readFile(absolute(p.cwd, name));
      if (data) p.stdout(data);
      else {
        p.stderr(`cat: ${name}: No such file or directory\n`);
        code = 1;
      }
    }
    return code;
  },
};
