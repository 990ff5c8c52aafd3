/**
 * `sandbox.deno`: Deno programs and a Deno REPL inside the sandbox (Deno Sandbox's API,
 * docs/deno-compatibility.md). The daemon binds the host's Deno runtime read-only at
 * /usr/local/bin/deno in every sandbox; these methods only start it with the right arguments.
 */
import { InvalidArgumentError, ServerError } from "./contract/index.js";
import type { ChildProcess } from "./child-process.js";
import { answerPrefix, replDriverSource } from "./deno-repl-driver.js";
import { decodeValue, encodeValue } from "./deno-values.js";
import type { SpawnOptions } from "./spawn-options.js";

/** What `sandbox.deno` needs of its sandbox. */
export interface DenoHost {
  spawn(cmd: string, options?: SpawnOptions): Promise<ChildProcess>;
  fs: { mkdir(path: string, options?: { recursive?: boolean }): Promise<void>; writeTextFile(path: string, text: string): Promise<void> };
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  sh(strings: TemplateStringsArray, ...values: unknown[]): { noThrow(): { text(): Promise<string> } };
}

/** File extensions `deno.run({ code })` accepts (default "ts"). */
export type CodeExtension = "js" | "cjs" | "mjs" | "ts" | "cts" | "mts" | "jsx" | "tsx";

/**
 * Options of `sandbox.deno.run`: an `entrypoint` file in the sandbox, or inline `code`.
 *
 * @example await sandbox.deno.run({ code: "console.log(Deno.args)", scriptArgs: ["a"], stdout: "piped" });
 */
export type DenoRunOptions = ({ entrypoint: string | URL; watch?: boolean | string[] } | { code: string; extension?: CodeExtension }) & {
  scriptArgs?: string[];
} & Omit<SpawnOptions, "args">;

/** Options of `sandbox.deno.repl`. */
export type DenoReplOptions = { scriptArgs?: string[] } & Omit<SpawnOptions, "args" | "stdin" | "stdout">;

/**
 * A Deno program started by `sandbox.deno.run`: a ChildProcess, plus `httpReady` (resolves true
 * once it listens on a TCP port, false if it exits first) and `fetch` (a request to that port
 * from inside the sandbox).
 *
 * @example
 *   const server = await sandbox.deno.run({ code: "Deno.serve({ port: 8000 }, () => new Response('hi'))" });
 *   if (await server.httpReady) console.log(await (await server.fetch("/")).text());
 */
export type DenoProcess = ChildProcess & {
  readonly httpReady: Promise<boolean>;
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
};

const CODE_EXTENSIONS = new Set(["js", "cjs", "mjs", "ts", "cts", "mts", "jsx", "tsx"]);
/** Where inline code is written before it runs (the sandbox's own /tmp). */
const CODE_DIR = "/tmp/atoll-deno";
const HTTP_POLL_MS = 100;

/**
 * Prints the TCP port process PID (in the sandbox) listens on, if any: its socket inodes matched
 * against /proc/net/tcp{,6} entries in state LISTEN (0A).
 */
const LISTEN_PORT_SCRIPT = String.raw`
inodes=$(ls -l /proc/$1/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
[ -n "$inodes" ] || exit 0
hex=$(awk -v inodes="$inodes" 'BEGIN { n = split(inodes, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
  $4 == "0A" && ($10 in want) { n = split($2, p, ":"); print p[n]; exit }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
[ -n "$hex" ] && echo $((0x$hex))
exit 0`;

function randomToken(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A Deno REPL in the sandbox (`sandbox.deno.repl()`). `eval` runs code in the REPL's global
 * scope and returns its value; `call` calls a function by name or expression. Values cross as
 * deno-values.ts describes (Map, Set, Date, BigInt… keep their types; class instances arrive as
 * plain objects; functions cannot cross).
 *
 * @example
 *   await using repl = await sandbox.deno.repl();
 *   await repl.eval("function add(a, b) { return a + b; }");
 *   console.log(await repl.call("add", 1, 2)); // 3
 */
export class DenoRepl {
  readonly #child: ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #ended: Error | undefined;

  /** @internal Use `sandbox.deno.repl()`. */
  constructor(child: ChildProcess, token: string) {
    this.#child = child;
    this.#writer = child.stdin!.getWriter();
    void this.#readAnswers(child.stdout!, answerPrefix(token));
    child.status.then(
      (status) => this.#end(new ServerError("INTERNAL", `The Deno REPL exited (code ${status.code}${status.signal ? `, ${status.signal}` : ""})`)),
      (err: Error) => this.#end(err),
    );
  }

  /** pid of the REPL's Deno process inside the sandbox. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves when the REPL process ended. */
  get status(): ChildProcess["status"] {
    return this.#child.status;
  }

  /**
   * Evaluates `code` (JavaScript or TypeScript) and returns its value.
   *
   * @example const two = await repl.eval<number>("1 + 1");
   */
  eval<T = unknown>(code: string): Promise<T> {
    return this.#request({ op: "eval", code }) as Promise<T>;
  }

  /**
   * Calls `fn` — a function defined in the REPL, or a function expression — with `args`.
   *
   * @example const sum = await repl.call<number>("(a, b) => a + b", 1, 2);
   */
  call<T = unknown>(fn: string, ...args: unknown[]): Promise<T> {
    return this.#request({ op: "call", fn, args: encodeValue(args) }) as Promise<T>;
  }

  /** Ends the REPL. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => undefined);
    this.#child.kill("SIGKILL");
    await this.#child.status.catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #request(request: Record<string, unknown>): Promise<unknown> {
    if (this.#ended) throw this.#ended;
    const id = this.#nextId++;
    const answer = new Promise<unknown>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify({ id, ...request })}\n`));
    return answer;
  }

  async #readAnswers(stdout: ReadableStream<Uint8Array>, prefix: string): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of stdout as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          // Other lines are what the evaluated code printed.
          if (line.startsWith(prefix)) this.#answer(line.slice(prefix.length));
        }
        // What the code printed without a newline is dropped rather than held.
        if (!pending.startsWith(prefix.slice(0, pending.length))) pending = "";
      }
    } catch {
      /* the process ended: #end reports it */
    }
  }

  #answer(json: string): void {
    const message = JSON.parse(json) as { id: number; value?: unknown; error?: { name: string; message: string; stack: string } };
    const waiter = this.#waiting.get(message.id);
    if (!waiter) return;
    this.#waiting.delete(message.id);
    if (message.error) {
      const err = new Error(message.error.message);
      err.name = message.error.name;
      err.stack = message.error.stack;
      waiter.reject(err);
    } else {
      waiter.resolve(decodeValue(message.value));
    }
  }

  #end(error: Error): void {
    this.#ended ??= error;
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}

/**
 * `sandbox.deno`: runs Deno programs and REPLs in the sandbox.
 *
 * @example
 *   const result = await sandbox.deno.eval("1 + 1"); // 2
 */
export class SandboxDeno {
  readonly #host: DenoHost;

  /** @internal */
  constructor(host: DenoHost) {
    this.#host = host;
  }

  /**
   * Starts a Deno program (with every permission, like `deno run -A`) from a file in the sandbox
   * or from inline code, and returns its process.
   *
   * @example
   *   const child = await sandbox.deno.run({ code: "console.log('hi')", stdout: "piped" });
   *   const { stdout } = await child.output();
   */
  async run(options: DenoRunOptions): Promise<DenoProcess> {
    const { scriptArgs = [], ...rest } = options as DenoRunOptions & {
      entrypoint?: string | URL;
      code?: string;
      extension?: string;
      watch?: boolean | string[];
    };
    const { entrypoint, code, extension, watch, ...spawnOptions } = rest;
    if ((entrypoint === undefined) === (code === undefined)) throw new InvalidArgumentError("deno.run needs exactly one of { entrypoint } and { code }");
    const flags = ["run", "-A"];
    let file: string;
    if (code !== undefined) {
      const ext = extension ?? "ts";
      if (!CODE_EXTENSIONS.has(ext)) throw new InvalidArgumentError(`deno.run: extension must be one of ${[...CODE_EXTENSIONS].join(", ")}, got "${ext}"`);
      await this.#host.fs.mkdir(CODE_DIR, { recursive: true });
      file = `${CODE_DIR}/main-${randomToken()}.${ext}`;
      await this.#host.fs.writeTextFile(file, code);
    } else {
      file = entrypoint instanceof URL ? entrypoint.pathname : String(entrypoint);
      if (watch) flags.push(Array.isArray(watch) && watch.length ? `--watch=${watch.join(",")}` : "--watch");
    }
    const child = await this.#host.spawn("deno", { ...spawnOptions, args: [...flags, file, ...scriptArgs] });
    return this.#withHttp(child);
  }

  /**
   * Evaluates `code` in a new REPL and ends the REPL.
   *
   * @example const n = await sandbox.deno.eval<number>("[1, 2, 3].length");
   */
  async eval<T = unknown>(code: string): Promise<T> {
    const repl = await this.repl();
    try {
      return await repl.eval<T>(code);
    } finally {
      await repl.close();
    }
  }

  /**
   * Starts a REPL whose global scope persists from one `eval` to the next.
   *
   * @example
   *   await using repl = await sandbox.deno.repl();
   *   await repl.eval("const greeting = 'hi'");
   *   console.log(await repl.eval("greeting")); // "hi"
   */
  async repl(options: DenoReplOptions = {}): Promise<DenoRepl> {
    const { scriptArgs = [], ...spawnOptions } = options;
    const token = randomToken();
    const child = await this.#host.spawn("deno", {
      stderr: "inherit",
      ...spawnOptions,
      args: ["eval", "--ext=ts", replDriverSource(token), ...scriptArgs],
      stdin: "piped",
      stdout: "piped",
    });
    return new DenoRepl(child, token);
  }

  /** Adds `httpReady` and `fetch` to a started program: polls which TCP port it listens on. */
  #withHttp(child: ChildProcess): DenoProcess {
    let exited = false;
    child.status.then(
      () => (exited = true),
      () => (exited = true),
    );
    let port: number | undefined;
    const httpReady = (async () => {
      while (!exited) {
        const out = await this.#host.sh`sh -c ${LISTEN_PORT_SCRIPT} probe ${String(child.pid)}`
          .noThrow()
          .text()
          .catch(() => "");
        const found = Number.parseInt(out.trim(), 10);
        if (found > 0) {
          port = found;
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, HTTP_POLL_MS));
      }
      return false;
    })();
    const fetchFromRuntime = async (url: string | URL, init?: RequestInit): Promise<Response> => {
      if (!(await httpReady) || port === undefined)
        throw new InvalidArgumentError("The Deno program is not serving HTTP (it exited before listening on a port)");
      const target = new URL(String(url), "http://localhost/");
      return this.#host.fetch(`http://127.0.0.1:${port}${target.pathname}${target.search}`, init);
    };
    return Object.assign(child, { httpReady, fetch: fetchFromRuntime });
  }
}
