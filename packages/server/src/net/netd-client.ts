/**
 * The daemon's side of netd (net/netd/netd-main.ts): starts it inside the router namespace
 * (netd-process.ts: detached, reached over a root-only unix socket), pushes sandbox policies to
 * it, and answers its calls (admit addresses into nftables, forward DNS to the host's resolvers).
 *
 * netd outlives the daemon: `start({ reuse: true })` reconnects to the netd a previous daemon left
 * running (same protocol) and `served()` tells what it serves; `detach()` leaves it running for
 * the next daemon, `stop()` ends it.
 *
 * netd is supervised: if its connection drops for any reason but stop()/detach(), a new netd is
 * started at once (then with a growing pause if it keeps dying), and before it serves, every
 * running sandbox's policy, secrets and CA are given back to it (`sandboxes()`), so existing
 * sandboxes keep their allowNet and secrets and new creates keep working. Calls made while netd
 * restarts wait for it.
 */
import { readFileSync } from "node:fs";
import type { NetRule } from "atoll/contract";
import type { Logger } from "pino";
import type { SecretBinding } from "../core/drivers.js";
import type { AddressPlan } from "./address-plan.js";
import type { CertificateAuthority } from "./cert-authority.js";
import { DnsForwarder } from "./dns-forwarder.js";
import type { NetConfig } from "./net-config.js";
import type { NetdConfig } from "./netd/netd-main.js";
import { type NetdConnection, type NetdPaths, connectNetd, killNetd, netdPidsOf, shutdownNetd, spawnNetd } from "./netd-process.js";
import { NETD_PROTOCOL } from "./netd/protocol.js";
import { PROXY_HTTP_PORT, PROXY_TLS_PORT, type PortRange } from "./nft-ruleset.js";
import { DaemonError } from "../daemon-error.js";

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
  /** `lost`: the value is gone (netd restarted while no daemon ran); its hosts are refused. */
  secrets: (SecretBinding & { lost?: boolean })[];
  /** CIDRs the sandbox may never reach (its tenant's closed ranges). */
  closed: string[];
  ca: CertificateAuthority | undefined;
}

export interface NetdStartOptions {
  /** /run/netns/<router>. */
  routerNetns: string;
  /** Its socket and log (netdPaths of the state dir). */
  paths: NetdPaths;
  /** The router's name, in netd's process title (the leak check finds it by it). */
  name: string;
  plan: AddressPlan;
  config: NetConfig;
  logger?: Logger | undefined;
  onLearn(req: LearnRequest): Promise<void>;
  /** Every sandbox netd must know, for a restarted netd. */
  sandboxes(): NetdSandbox[];
}

type Instance = NetdConnection & { startedAt: number };

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
  /** The netd this daemon found running and kept (it outlived the previous daemon). */
  reconnected = false;
  private readonly forwarder: DnsForwarder | undefined;

  private constructor(private readonly o: NetdStartOptions) {
    this.forwarder = o.config.dns.kind === "host" ? new DnsForwarder() : undefined;
  }

  /**
   * Connects to netd. `reuse`: keep the netd a previous daemon left running when it speaks this
   * protocol (its sandboxes are being adopted); any other netd found is ended and a new one started.
   */
  static async start(o: NetdStartOptions, opts: { reuse?: boolean } = {}): Promise<NetdClient> {
    const client = new NetdClient(o);
    const found = await connectNetd(o.paths.socket);
    // It keeps serving with this daemon's configuration (upstream DNS, CA), applied in place.
    const configured =
      found &&
      opts.reuse &&
      found.protocol === NETD_PROTOCOL &&
      (await found.rpc.call("configure", client.config()).then(
        () => true,
        () => false,
      ));
    if (found && configured) {
      client.reconnected = true;
      client.watch({ ...found, startedAt: Date.now() });
      o.logger?.info({ pid: found.pid, sandboxes: found.sandboxes }, "reconnected to the running netd");
      return client;
    }
    if (found) {
      o.logger?.info({ pid: found.pid, protocol: found.protocol }, "ending the netd of a previous run");
      await shutdownNetd(found);
    }
    // One that no longer answers would still hold the resolver's and the proxy's ports.
    for (const pid of netdPidsOf(o.name)) await killNetd(pid);
    client.watch(await client.spawn());
    return client;
  }

  /** Ends the netd a previous run left (no adoption): asked on its socket, else killed. */
  static async endStale(paths: NetdPaths, name: string): Promise<void> {
    const found = await connectNetd(paths.socket);
    if (found) await shutdownNetd(found);
    for (const pid of netdPidsOf(name)) await killNetd(pid);
  }

  /** Whether a netd process runs now (false while it is being restarted; metrics). */
  get up(): boolean {
    return this.current !== undefined;
  }

  /** pid of the running netd (tests kill it to prove recovery). */
  get pid(): number | undefined {
    return this.current?.pid;
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

  private async spawn(): Promise<Instance> {
    const c = await spawnNetd({ routerNetns: this.o.routerNetns, paths: this.o.paths, name: this.o.name, config: this.config() });
    return { ...c, startedAt: Date.now() };
  }

  /** Makes `inst` the current netd: answers its calls and restarts it when its connection drops. */
  private watch(inst: Instance): void {
    const o = this.o;
    inst.rpc.handle("learn", (req) => o.onLearn(req as LearnRequest));
    inst.rpc.handle("dnsForward", async (packet) => {
      if (!this.forwarder) throw new DaemonError("NETWORK_FAILED", "DNS forwarding is off");
      return (await this.forwarder.forward(Buffer.from(packet as string, "base64"))).toString("base64");
    });
    inst.endpoint.on("message", (m) => {
      const msg = m as { netd?: string; message?: string; data?: Record<string, unknown> };
      if (msg?.netd === "log") o.logger?.debug({ ...msg.data }, `netd: ${msg.message}`);
    });
    this.current = inst;
    inst.endpoint.on("disconnect", () => {
      if (this.current === inst) this.current = undefined;
      if (this.stopping) return;
      o.logger?.error({ pid: inst.pid }, "netd exited: restarting it (sandbox DNS and the egress proxy pause meanwhile)");
      if (Date.now() - inst.startedAt > STABLE_AFTER_MS) this.restartDelay = RESTART_DELAY_MS.first;
      this.ready = this.recovering = this.recover(inst.pid);
      this.ready.catch(() => undefined);
    });
  }

  /** What the running netd serves (for adoption): each sandbox as the previous daemon gave it. */
  async served(): Promise<Map<string, NetdSandbox>> {
    const out = new Map<string, NetdSandbox>();
    for (const id of await this.call<string[]>("list", null)) {
      const s = await this.call<(Omit<NetdSandbox, "ca"> & { ca: CertificateAuthority | null }) | null>("get", { id });
      if (s) out.set(id, { ...s, ca: s.ca ?? undefined });
    }
    return out;
  }

  /** Restarts netd until one is up and knows every running sandbox. */
  private async recover(oldPid: number): Promise<void> {
    let inst: Instance | undefined;
    // A netd whose connection dropped may still hold the ports: make sure it is gone.
    await killNetd(oldPid);
    while (!this.stopping) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.restartTimer = setTimeout(resolve, this.restartDelay);
      });
      this.restartDelay = Math.min(this.restartDelay * 2, RESTART_DELAY_MS.max);
      if (this.stopping) break;
      try {
        inst = await this.spawn();
        const all = this.o.sandboxes();
        for (const s of all) await inst.rpc.call("setSandbox", wire(s));
        if (this.stopping) break;
        this.restarts += 1;
        this.watch(inst);
        this.o.logger?.warn({ pid: inst.pid, sandboxes: all.length, restarts: this.restarts }, "netd restarted; running sandboxes' policies restored");
        return;
      } catch (err) {
        this.o.logger?.error({ err }, "restarting netd failed; trying again");
        if (inst) await killNetd(inst.pid);
        inst = undefined;
      }
    }
    if (inst) await killNetd(inst.pid);
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

  /** The daemon stops for good: netd ends. */
  async stop(): Promise<void> {
    const inst = await this.quiesce();
    if (inst) await shutdownNetd(inst);
    this.o.logger?.debug("netd stopped");
  }

  /** The daemon stops but its sandboxes live on: netd keeps serving them for the next daemon. */
  async detach(): Promise<void> {
    (await this.quiesce())?.endpoint.close();
  }

  /** No more restarts; returns the current netd. */
  private async quiesce(): Promise<Instance | undefined> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.wake?.();
    await this.recovering?.catch(() => undefined);
    const inst = this.current;
    this.current = undefined;
    return inst;
  }
}

function wire(s: NetdSandbox): unknown {
  return { ...s, ca: s.ca ?? null };
}
