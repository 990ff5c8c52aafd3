import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** A real `atoll serve` process on a temporary state directory, for integration tests. */
export interface TestDaemon {
  url: string;
  token: string;
  stateDir: string;
  pid: number;
  /** SIGTERM and wait for a clean exit (code 0 expected). */
  stop(): Promise<number | null>;
  /** SIGKILL, as in a crash. */
  crash(): Promise<void>;
  /** Starts a new daemon process on the same state directory (after stop or crash). */
  restart(): Promise<TestDaemon>;
  /** stop() if running, then remove the state directory. */
  dispose(): Promise<void>;
  /** Log lines (JSON) the daemon printed so far. */
  logs: string[];
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/**
 * Network settings of a test daemon. The defaults reach nothing outside this machine: uplink
 * `none` and no DNS upstream. Egress tests pass `uplink: "netns:<their fake internet>"` and a
 * static DNS table (testing/fake-internet.ts). Never "host".
 */
export interface TestNetworkOptions {
  /** "none" (default) or "netns:NAME". */
  uplink?: `netns:${string}` | "none";
  /** "none" (default) or "static:FILE". */
  dns?: `static:${string}` | "none";
  /** PEM file of the fake internet's CA, trusted by the egress proxy and sandbox.fetch. */
  upstreamCa?: string;
  /** "off": sandboxes get loopback only (as before networking existed). */
  network?: "on" | "off";
  /** `--net-open`: closed destination ranges every tenant may reach (the fake internet opens "documentation"). */
  netOpen?: string;
}

function networkArgs(n: TestNetworkOptions): string[] {
  const uplink = n.uplink ?? "none";
  const dns = n.dns ?? "none";
  // A test daemon must never route to the host's uplink or ask the host's resolvers.
  if (!/^(none|netns:.+)$/.test(uplink) || !/^(none|static:.+)$/.test(dns)) throw new Error(`test daemons may only use uplink none|netns:NAME and dns none|static:FILE`);
  return [
    "--uplink",
    uplink,
    "--dns",
    dns,
    "--network",
    n.network ?? "on",
    ...(n.upstreamCa ? ["--upstream-ca", n.upstreamCa] : []),
    ...(n.netOpen ? ["--net-open", n.netOpen] : []),
  ];
}

async function launch(stateDir: string, ownsStateDir: boolean, net: TestNetworkOptions = {}, env: Record<string, string> = {}): Promise<TestDaemon> {
  const child = spawn(process.execPath, [MAIN, "serve", "--state-dir", stateDir, "--listen", "127.0.0.1:0", "--log-level", "debug", ...networkArgs(net)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ATOLL_LOG_LEVEL: "debug", ...env },
  });
  const logs: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`daemon did not start within 120 s\n${logs.join("\n")}\n${stderr.join("")}`)), 120_000);
    lines.on("line", (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === "listening" && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        /* not JSON */
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening\n${logs.join("\n")}\n${stderr.join("")}`));
    });
  });
  const token = readFileSync(join(stateDir, "token"), "utf8").trim();
  const daemon: TestDaemon = {
    url,
    token,
    stateDir,
    pid: child.pid!,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return waitExit(child);
    },
    async crash() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await waitExit(child);
    },
    restart: () => launch(stateDir, ownsStateDir, net, env),
    async dispose() {
      await daemon.stop();
      if (ownsStateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return daemon;
}

/**
 * Starts a daemon for a test. The base image comes from ATOLL_IMAGES_DIR (default
 * /var/lib/atoll/images), built by `npm test`'s setup. `env` adds ATOLL_* settings (limits).
 *
 * @example
 *   const daemon = await startTestDaemon();
 *   t.after(() => daemon.dispose());
 *   const client = new Client({ url: daemon.url, token: daemon.token });
 */
export async function startTestDaemon(options: { stateDir?: string; net?: TestNetworkOptions; env?: Record<string, string> } = {}): Promise<TestDaemon> {
  // A state directory the caller made (e.g. on a small filesystem) stays the caller's to remove.
  if (options.stateDir) return launch(options.stateDir, false, options.net, options.env);
  const stateDir = mkdtempSync("/var/tmp/atoll-test-");
  try {
    return await launch(stateDir, true, options.net, options.env);
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}
