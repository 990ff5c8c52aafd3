/**
 * The daemon's side of netd (net/netd/netd-main.ts): starts it inside the router namespace as
 * uid/gid 65534, pushes sandbox policies to it, and answers its calls (admit addresses into
 * nftables, forward DNS to the host's resolvers).
 *
 * netd is supervised: if it exits for any reason but stop(), a new netd is started at once (then
 * with a growing pause if it keeps dying), and before it serves, every running sandbox's policy,
 * secrets and CA are given back to it (`sandboxes()`), so existing sandboxes keep their
 * allowNet and secrets and new creates keep working. Calls made while netd restarts wait for it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { NetRule } from "atoll/contract";
import type { Logger } from "pino";
import type { SecretBinding } from "../core/drivers.js";
import type { AddressPlan } from "./address-plan.js";
import type { CertificateAuthority } from "./cert-authority.js";
import { DnsForwarder } from "./dns-forwarder.js";
import type { NetConfig } from "./net-config.js";
import type { NetdConfig } from "./netd/netd-main.js";
import { type IpcEndpoint, Rpc } from "./netd/rpc.js";
import { PROXY_HTTP_PORT, PROXY_TLS_PORT, type PortRange } from "./nft-ruleset.js";
import { DaemonError } from "../daemon-error.js";

const NETD_MAIN = fileURLToPath(new URL("./netd/netd-main.js", import.meta.url));
const NOBODY = "65534";
const START_TIMEOUT_MS = 20_000;
/** Pause before restarting a netd that died: doubles while it keeps dying, up to the maximum. */
const RESTART_DELAY_MS = { first: 100, max: 5_000 };
/** A netd that served this long resets the pause. */
const STABLE_AFTER_MS = 30_000;
/** How long a call waits for a restarting netd. */
const WAIT_READY_MS = 30_000;

export interface LearnRequest {
  ip: string;
  ports: PortRange[];
  intercept: boolean;
  addresses: string[];
}

/** What netd holds for one sandbox (replayed to a restarted netd). */
export interface NetdSandbox {
  id: string;
  ipv4: string;
  ipv6: string;
  rules: NetRule[] | null;
  secrets: SecretBinding[];
  /** CIDRs the sandbox may never reach (its tenant's closed ranges). */
  closed: string[];
  ca: CertificateAuthority | undefined;
}

export interface NetdStartOptions {
  /** /run/netns/<router>. */
  routerNetns: string;
  plan: AddressPlan;
  config: NetConfig;
  logger?: Logger | undefined;
  onLearn(req: LearnRequest): Promise<void>;
  /** Every sandbox netd must know, for a restarted netd. */
  sandboxes(): NetdSandbox[];
}

interface Instance {
  child: ChildProcess;
  rpc: Rpc;
  startedAt: number;
}

export class NetdClient {
  private stopping = false;
  private current: Instance | undefined;
  /** Resolves when a netd is up and knows every sandbox; replaced while one restarts. */
  private ready: Promise<void> = Promise.resolve();
  private restartDelay = RESTART_DELAY_MS.first;
  private restartTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private recovering: Promise<void> | undefined;
  /** How many times netd was restarted (metrics, tests). */
  restarts = 0;
  private readonly forwarder: DnsForwarder | undefined;

  private constructor(private readonly o: NetdStartOptions) {
    this.forwarder = o.config.dns.kind === "host" ? new DnsForwarder() : undefined;
  }

  static async start(o: NetdStartOptions): Promise<NetdClient> {
    const client = new NetdClient(o);
    client.adopt(await client.spawnNetd());
    return client;
  }

  /** Whether a netd process runs now (false while it is being restarted; metrics). */
  get up(): boolean {
    return this.current !== undefined;
  }

  /** pid of the running netd (tests kill it to prove recovery). */
  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  private config(): NetdConfig {
    const o = this.o;
    const dns: NetdConfig["dns"] =
      o.config.dns.kind === "static"
        ? { kind: "static", table: JSON.parse(readFileSync(o.config.dns.file, "utf8")) as Record<string, string[]> }
        : o.config.dns;
    return {
      gateway4: o.plan.gateway4,
      gateway6: o.plan.gateway6,
      httpPort: PROXY_HTTP_PORT,
      tlsPort: PROXY_TLS_PORT,
      dns,
      upstreamCa: o.config.upstreamCaFile ? readFileSync(o.config.upstreamCaFile, "utf8") : null,
      denied: [o.plan.range4, o.plan.range6],
    };
  }

  /** Starts one netd process and waits until it listens. */
  private async spawnNetd(): Promise<Instance> {
    const o = this.o;
    const child = spawn("nsenter", [`--net=${o.routerNetns}`, "-S", NOBODY, "-G", NOBODY, "--", process.execPath, NETD_MAIN], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ATOLL_NETD_CONFIG: JSON.stringify(this.config()) },
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (t: string) => {
      stderr = (stderr + t).slice(-8192);
      for (const line of t.split("\n")) if (line.trim()) o.logger?.warn({ stderr: line }, "netd stderr");
    });
    const rpc = new Rpc(child as unknown as IpcEndpoint);
    rpc.handle("learn", (req) => o.onLearn(req as LearnRequest));
    rpc.handle("dnsForward", async (packet) => {
      if (!this.forwarder) throw new DaemonError("NETWORK_FAILED", "DNS forwarding is off");
      return (await this.forwarder.forward(Buffer.from(packet as string, "base64"))).toString("base64");
    });
    child.on("message", (m: { netd?: string; message?: string; data?: Record<string, unknown> }) => {
      if (m?.netd === "log") o.logger?.debug({ ...m.data }, `netd: ${m.message}`);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new DaemonError("NETWORK_FAILED", `netd did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(err);
      };
      child.on("message", (m: { netd?: string; error?: string }) => {
        if (m?.netd === "ready") {
          clearTimeout(timer);
          resolve();
        } else if (m?.netd === "failed") fail(new DaemonError("NETWORK_FAILED", `netd failed to start: ${m.error}`));
      });
      child.once("exit", (code) => fail(new DaemonError("NETWORK_FAILED", `netd exited with ${code} before it was ready: ${stderr.trim()}`)));
      child.once("error", (err) => fail(err));
    });
    return { child, rpc, startedAt: Date.now() };
  }

  /** Makes `inst` the current netd and watches it. */
  private adopt(inst: Instance): void {
    this.current = inst;
    inst.child.once("exit", (code, signal) => {
      inst.rpc.close(new DaemonError("NETWORK_FAILED", "netd exited"));
      if (this.current === inst) this.current = undefined;
      if (this.stopping) return;
      this.o.logger?.error({ code, signal, pid: inst.child.pid }, "netd exited: restarting it (sandbox DNS and the egress proxy pause meanwhile)");
      if (Date.now() - inst.startedAt > STABLE_AFTER_MS) this.restartDelay = RESTART_DELAY_MS.first;
      this.ready = this.recovering = this.recover();
      this.ready.catch(() => undefined);
    });
  }

  /** Restarts netd until one is up and knows every running sandbox. */
  private async recover(): Promise<void> {
    let inst: Instance | undefined;
    while (!this.stopping) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.restartTimer = setTimeout(resolve, this.restartDelay);
      });
      this.restartDelay = Math.min(this.restartDelay * 2, RESTART_DELAY_MS.max);
      if (this.stopping) break;
      try {
        inst = await this.spawnNetd();
        const all = this.o.sandboxes();
        for (const s of all) await inst.rpc.call("setSandbox", wire(s));
        if (this.stopping) break;
        this.restarts += 1;
        this.adopt(inst);
        this.o.logger?.warn({ pid: inst.child.pid, sandboxes: all.length, restarts: this.restarts }, "netd restarted; running sandboxes' policies restored");
        return;
      } catch (err) {
        this.o.logger?.error({ err }, "restarting netd failed; trying again");
        inst?.child.kill("SIGKILL");
        inst = undefined;
      }
    }
    inst?.child.kill("SIGKILL");
    throw new DaemonError("NETWORK_FAILED", "netd stopped");
  }

  /** A call to the current netd, waiting for a restarting one. */
  private async call<T>(method: string, args: unknown, timeoutMs?: number): Promise<T> {
    if (!this.current && !this.stopping) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new DaemonError("NETWORK_FAILED", `netd is restarting and did not come back within ${WAIT_READY_MS} ms`)),
          WAIT_READY_MS,
        );
      });
      await Promise.race([this.ready, timeout]).finally(() => clearTimeout(timer));
    }
    if (!this.current) throw new DaemonError("NETWORK_FAILED", "netd is not running");
    return this.current.rpc.call<T>(method, args, timeoutMs);
  }

  setSandbox(s: NetdSandbox): Promise<void> {
    return this.call("setSandbox", wire(s));
  }

  /** Replaces a sandbox's rules and closed ranges. */
  setRules(id: string, rules: NetRule[] | null, closed: string[]): Promise<void> {
    return this.call("setRules", { id, rules, closed });
  }

  forgetSandbox(id: string): Promise<void> {
    return this.call("forget", { id });
  }

  resolveFor(ip: string, name: string): Promise<string[]> {
    return this.call("resolveFor", { ip, name });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.wake?.();
    await this.recovering?.catch(() => undefined);
    const inst = this.current;
    this.current = undefined;
    if (!inst) return;
    inst.rpc.close(new DaemonError("NETWORK_FAILED", "netd stopped"));
    const { child } = inst;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.disconnect?.();
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
    this.o.logger?.debug("netd stopped");
  }
}

function wire(s: NetdSandbox): unknown {
  return { ...s, ca: s.ca ?? null };
}
