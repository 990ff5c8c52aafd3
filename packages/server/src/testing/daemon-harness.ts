import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type FakeHost, netnsInodeOf } from "./fake-host.js";
import { netnsPath } from "../net/netns-ops.js";

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** A real `atoll serve` process on a temporary state directory, for integration tests. */
export interface TestDaemon {
  /** Where the test reaches the API (for a daemon in a fake host: a relay in the test's namespace). */
  url: string;
  /** Where the daemon itself listens (inside its fake host, if any): for clients run there. */
  insideUrl: string;
  token: string;
  stateDir: string;
  pid: number;
  /** SIGTERM and wait for a clean exit (code 0 expected). */
  stop(): Promise<number | null>;
  /** SIGKILL, as in a crash. */
  crash(): Promise<void>;
  /** Settles when the daemon process has exited, however it ended (e.g. a crash point's SIGKILL). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Starts a new daemon process on the same state directory (after stop or crash). `samePort`:
   * it listens where this one did, so clients of this one can ride through the restart (a
   * daemon inside a fake host is reached through a relay whose port changes anyway).
   */
  restart(opts?: { samePort?: boolean }): Promise<TestDaemon>;
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
  if (!/^(none|netns:.+)$/.test(uplink) || !/^(none|static:.+)$/.test(dns))
    throw new Error(`test daemons may only use uplink none|netns:NAME and dns none|static:FILE`);
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

/** Where and how a test daemon runs: network flags, or no flags at all inside a fake host. */
type Placement = { net: TestNetworkOptions; keepSandboxesOnExit?: boolean } | { host: FakeHost };

/** Settings a user could give through the environment: a default-configuration daemon gets none. */
const NETWORK_ENV = ["ATOLL_NETWORK", "ATOLL_UPLINK", "ATOLL_DNS", "ATOLL_NET_RANGE", "ATOLL_UPSTREAM_CA"];

async function spawnDaemon(stateDir: string, where: Placement, extraEnv: Record<string, string>, listen: string): Promise<ChildProcess> {
  const serve = [MAIN, "serve", "--state-dir", stateDir, "--listen", listen];
  if ("net" in where) {
    const env = { ...process.env, ATOLL_LOG_LEVEL: "debug", ...extraEnv };
    // Its sandboxes end with it (the leak check needs that), unless the test is about live restore.
    const exit = where.keepSandboxesOnExit ? [] : ["--stop-sandboxes-on-exit"];
    return spawn(process.execPath, [...serve, "--log-level", "debug", ...exit, ...networkArgs(where.net)], { stdio: ["ignore", "pipe", "pipe"], env });
  }
  // The default configuration routes sandboxes out of the daemon's own namespace and asks the
  // resolvers of /etc/resolv.conf: only ever inside a closed fake host (fake-host.ts). Nothing
  // else differs from `npm start` either, not even the log level (debug logging shifts timings
  // enough to hide races: it hid the launcher pool's).
  await where.host.assertClosed();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [...NETWORK_ENV, "ATOLL_LOG_LEVEL"]) delete env[k];
  // The fake internet lives in documentation ranges, which Atoll closes to sandboxes by default
  // (docs/network.md, "Closed destinations"): opening them is the one setting that differs.
  Object.assign(env, { ATOLL_NET_OPEN: "documentation" }, extraEnv);
  return spawn("nsenter", [`--net=${netnsPath(where.host.netns)}`, "--", process.execPath, ...serve], { stdio: ["ignore", "pipe", "pipe"], env });
}

/**
 * Every test daemon's log (stdout and stderr) is also kept in test-results/daemons/, so a failure
 * in CI can be read afterwards; undefined when that directory cannot be made.
 */
function daemonLogFile(stateDir: string, pid: number): NodeJS.WritableStream | undefined {
  try {
    const dir = join(process.env.ATOLL_TEST_RESULTS ?? join(process.cwd(), "test-results"), "daemons");
    mkdirSync(dir, { recursive: true });
    return createWriteStream(join(dir, `${basename(stateDir)}-${pid}.log`), { flags: "a" }).on("error", () => undefined);
  } catch {
    return undefined;
  }
}

/** Whether sandboxes a stopped daemon left running (their shims' records) remain in `stateDir`. */
function sandboxesLeftRunning(stateDir: string): boolean {
  try {
    return readdirSync(join(stateDir, "shims")).some((f) => f.endsWith(".json"));
  } catch {
    return false;
  }
}

async function launch(
  stateDir: string,
  ownsStateDir: boolean,
  where: Placement,
  env: Record<string, string> = {},
  listen = "127.0.0.1:0",
): Promise<TestDaemon> {
  const child = await spawnDaemon(stateDir, where, env, listen);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const logs: string[] = [];
  const stderr: string[] = [];
  const logFile = daemonLogFile(stateDir, child.pid!);
  child.stderr!.on("data", (d: Buffer) => {
    stderr.push(d.toString());
    logFile?.write(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`daemon did not start within 120 s\n${logs.join("\n")}\n${stderr.join("")}`)), 120_000);
    lines.on("line", (line) => {
      logs.push(line);
      logFile?.write(`${line}\n`);
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
  let apiUrl = url;
  let relay: { url: string; close(): Promise<void> } | undefined;
  if ("host" in where) {
    // nsenter execs the daemon only after it joined the namespace; check anyway.
    if (netnsInodeOf(`/proc/${child.pid}/ns/net`) !== where.host.netnsInode) {
      child.kill("SIGKILL");
      await waitExit(child);
      throw new Error(`the default-configuration daemon is not inside fake host ${where.host.netns}: killed it`);
    }
    relay = await where.host.relay(Number(new URL(url).port));
    apiUrl = relay.url;
  }
  const token = readFileSync(join(stateDir, "token"), "utf8").trim();
  const daemon: TestDaemon = {
    url: apiUrl,
    insideUrl: url,
    token,
    stateDir,
    pid: child.pid!,
    logs,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const code = await waitExit(child);
      await relay?.close();
      return code;
    },
    async crash() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await waitExit(child);
      await relay?.close();
    },
    restart: (opts) => launch(stateDir, ownsStateDir, where, env, opts?.samePort ? new URL(url).host : "127.0.0.1:0"),
    async dispose() {
      await daemon.stop();
      // A daemon in the default configuration leaves its sandboxes running when it stops (for the
      // next one to adopt): one more daemon, told to stop everything on exit, adopts and ends them.
      if (sandboxesLeftRunning(stateDir)) await (await launch(stateDir, false, where, { ...env, ATOLL_STOP_SANDBOXES_ON_EXIT: "1" })).stop();
      if (ownsStateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return daemon;
}

/**
 * Starts a daemon for a test. The base image comes from ATOLL_IMAGES_DIR (default
 * /var/lib/atoll/images), built by `npm test`'s setup. `env` adds ATOLL_* settings (limits).
 *
 * A test daemon stops its sandboxes when it stops (`--stop-sandboxes-on-exit`), unless
 * `keepSandboxesOnExit` (live-restore tests, which end them themselves).
 *
 * `host`: the default configuration, as `npm start` runs it — no network flags (uplink `host`,
 * DNS `host`) — inside a fake host (fake-host.ts); `daemon.url` then reaches the API through a
 * local relay. Refused unless the fake host is closed and the daemon runs inside it.
 *
 * @example
 *   const daemon = await startTestDaemon();
 *   t.after(() => daemon.dispose());
 *   const client = new Client({ url: daemon.url, token: daemon.token });
 * @example
 *   const host = await startFakeHost({ "example.com": ["203.0.113.10"] });
 *   const daemon = await startTestDaemon({ host });
 */
export async function startTestDaemon(
  options: { stateDir?: string; net?: TestNetworkOptions; host?: FakeHost; env?: Record<string, string>; keepSandboxesOnExit?: boolean } = {},
): Promise<TestDaemon> {
  if (options.host && options.net) throw new Error("startTestDaemon: a daemon in a fake host takes no network options (it runs the default configuration)");
  const where: Placement = options.host ? { host: options.host } : { net: options.net ?? {}, keepSandboxesOnExit: options.keepSandboxesOnExit };
  // A state directory the caller made (e.g. on a small filesystem) stays the caller's to remove.
  if (options.stateDir) return launch(options.stateDir, false, where, options.env);
  const stateDir = mkdtempSync("/var/tmp/atoll-test-");
  try {
    return await launch(stateDir, true, where, options.env);
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}
