/**
 * The NetworkDriver on Linux (docs/network.md): a router namespace per daemon, a namespace + veth
 * per sandbox, nftables policy in the router, and netd (resolver + egress proxy) inside it.
 *
 * Per sandbox: `ip netns add <router>-<id>` → veth `atl<seq>` (router) / `eth0` (sandbox) →
 * addresses and routes on both ends → its nft chains and sets → its policy in netd. release()
 * undoes it in reverse; start() removes whatever a crashed predecessor left, except the networks
 * of sandboxes the daemon adopts (start(keep), adopt(), dropUnadopted(): "Daemon restarts").
 */
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import type { Duplex } from "node:stream";
import type { NetRule } from "atoll/contract";
import type { Logger } from "pino";
import type { NetworkAttachment, NetworkDriver, NetworkFacts, SecretBinding } from "../core/drivers.js";
import { KeyedMutex } from "../host/keyed-mutex.js";
import type { CommandRunner } from "../host/run-command.js";
import { WarmPool } from "../host/warm-pool.js";
import { type AddressPlan, buildAddressPlan } from "./address-plan.js";
import { type CertificateAuthority, createSandboxCa } from "./cert-authority.js";
import type { NetConfig } from "./net-config.js";
import { AddressNumbers } from "./address-numbers.js";
import { NetworkAdoption } from "./network-adoption.js";
import { ProxyDeny } from "./proxy-deny.js";
import { SANDBOX_CA_PATH, sandboxAttachment } from "./sandbox-attachment.js";
import { NetdClient, type NetdSandbox } from "./netd-client.js";
import { netdPaths } from "./netd-process.js";
import { dropSeqScript } from "./nft-state.js";
import { NftBatcher } from "./nft-batcher.js";
import { addNetns, deleteNetns, ipBatch, netnsPath, nftApply } from "./netns-ops.js";
import {
  type PortRange,
  type SandboxKeys,
  SANDBOX_IF_PREFIX,
  addSandboxScript,
  deleteSandboxScript,
  interceptScript,
  compilePolicy,
  learnScript,
  replacePolicyScript,
  setClosedScript,
} from "./nft-ruleset.js";
import { closedCidrs } from "../core/special-ranges.js";
import { nsConnect } from "./ns-connect.js";
import { subtractRanges, unionRanges } from "./port-ranges.js";
import { Router } from "./router.js";
import { DaemonError } from "../daemon-error.js";

export interface LinuxNetworkDriverOptions {
  config: NetConfig;
  /** Namespaces kept ready (default 2): creating one costs several host commands. */
  poolSize?: number;
  stateDir: string;
  /** Directory of the native helpers (atoll-nsconnect). */
  nativeDir: string;
  /** Runs ip and nft (the daemon's host spawner; tests: execFileRunner). */
  runner: CommandRunner;
  logger?: Logger | undefined;
}

/** A namespace with its veth, addresses and routes, ready for a sandbox (pooled). */
interface Plumbing extends SandboxKeys {
  number: number;
  netns: string;
}

/** Addresses one sandbox may have admitted at most (each is an nft element and daemon memory). */
export const MAX_LEARNED_ADDRESSES = 4096;

export interface SandboxNet extends Plumbing {
  id: string;
  rules: NetRule[] | null;
  secrets: NetdSandbox["secrets"];
  /** CIDRs the sandbox may never reach (its tenant's closed ranges, the daemon's own). */
  closed: string[];
  /** Addresses admitted so far, with their ports (nft refuses overlapping intervals). */
  learned: Map<string, PortRange[]>;
  intercepted: Set<string>;
  ca: CertificateAuthority | undefined;
  /** It reached MAX_LEARNED_ADDRESSES (logged once). */
  capped?: boolean;
}

export { SANDBOX_CA_PATH };

export { compilePolicy };

export class LinuxNetworkDriver implements NetworkDriver {
  readonly plan: AddressPlan;
  private readonly router: Router;
  private readonly sandboxes = new Map<string, SandboxNet>();
  private readonly numbers: AddressNumbers;
  private seq = 0;
  private readonly locks = new KeyedMutex();
  private netd: NetdClient | undefined;
  /** Ready namespaces: attach takes one, a background task makes the next. */
  private readonly pool: WarmPool<Plumbing>;
  /** Distinguishes this run's namespace names from a crashed predecessor's. */
  private readonly runTag = randomBytes(2).toString("hex");
  /** Ranges closed for every tenant (special ranges minus --net-open, plus our own). */
  readonly daemonClosed: string[];
  /** What netd may not dial (the intersection of every sandbox's closed ranges). */
  private readonly proxyDeny: ProxyDeny;
  /** Admitted addresses go into nftables in batches (one nft run at a time). */
  private readonly admissions: NftBatcher;
  /** Between start(keep) and dropUnadopted(): the previous run's state, and what netd still serves. */
  private adoption: NetworkAdoption | undefined;

  constructor(private readonly opts: LinuxNetworkDriverOptions) {
    const hash = createHash("sha256").update(path.resolve(opts.stateDir)).digest("hex").slice(0, 8);
    this.plan = buildAddressPlan(opts.config.range4, path.resolve(opts.stateDir));
    this.daemonClosed = closedCidrs(opts.config.netOpen, [], [this.plan.range4, this.plan.range6]);
    this.numbers = new AddressNumbers(this.plan);
    this.admissions = new NftBatcher(opts.runner, `atoll-${hash}`);
    this.proxyDeny = new ProxyDeny(opts.runner, `atoll-${hash}`, this.daemonClosed);
    this.router = new Router({
      name: `atoll-${hash}`,
      runner: opts.runner,
      plan: this.plan,
      proxyDeny: this.daemonClosed,
      uplink: opts.config.uplink,
      stateFile: path.join(opts.stateDir, "ip_forward.before"),
      logger: opts.logger,
    });
    // Creating a namespace costs several host commands, so `poolSize` are kept ready.
    this.pool = new WarmPool<Plumbing>({
      name: "network namespace",
      target: opts.poolSize ?? 2,
      logger: opts.logger,
      make: () => this.plumb(),
      release: (p) => this.unplumb(p),
    });
  }

  /**
   * Removes a crashed predecessor's namespaces, then builds the router and starts netd. `keep`:
   * netnsPaths of sandboxes the daemon may adopt; when the previous router is still there, it,
   * those namespaces and the running netd are taken over instead (adopt, then dropUnadopted).
   */
  async start(keep: readonly string[] = []): Promise<void> {
    const paths = netdPaths(this.opts.stateDir);
    this.adoption = await NetworkAdoption.begin(this.router, this.opts.runner, this.plan, keep).catch((err: unknown) => {
      this.opts.logger?.warn({ err }, "the previous run's network router cannot be taken over: its sandboxes lose their network");
      return undefined;
    });
    const reuse = this.adoption !== undefined;
    if (this.adoption) {
      this.seq = this.adoption.host.maxSeq;
      for (const n of this.adoption.host.numbers.values()) this.numbers.hold(n);
      // The table's deny sets are the previous run's: recompute them on the next change.
      this.proxyDeny.forget();
    } else {
      await NetdClient.endStale(paths, this.router.name);
      const orphans = await this.router.removeOrphans();
      if (orphans.length > 0) this.opts.logger?.info({ namespaces: orphans }, "removed network namespaces of a previous run");
      await this.router.create();
    }
    try {
      this.netd = await NetdClient.start(
        {
          routerNetns: this.router.path,
          paths,
          name: this.router.name,
          plan: this.plan,
          config: this.opts.config,
          logger: this.opts.logger,
          onLearn: (req) => this.learn(req.ip, req.ports, req.intercept, req.addresses),
          sandboxes: () =>
            [...this.sandboxes.values()].map((s) => ({ id: s.id, ipv4: s.ipv4, ipv6: s.ipv6, rules: s.rules, secrets: s.secrets, closed: s.closed, ca: s.ca })),
        },
        { reuse },
      );
      if (this.adoption && this.netd.reconnected) this.adoption.served = await this.netd.served();
    } catch (err) {
      await this.netd?.stop().catch(() => undefined);
      await this.router.destroy().catch(() => undefined);
      throw err;
    }
    this.pool.warm();
  }

  /** A namespace `<router>-<run>-<seq>` with eth0 ↔ atl<seq> in the router, addressed and routed. */
  private async plumb(): Promise<Plumbing> {
    const number = this.numbers.allocate();
    const seq = ++this.seq;
    const p: Plumbing = { number, seq, netns: `${this.router.name}-${this.runTag}-${seq}`, ...this.plan.sandbox(number) };
    const ifName = `${SANDBOX_IF_PREFIX}${seq}`;
    let stage = 0;
    try {
      await addNetns(this.opts.runner, p.netns);
      stage = 1;
      await ipBatch(this.opts.runner, this.router.name, [
        `link add ${ifName} type veth peer name eth0 netns ${netnsPath(p.netns)}`,
        `link set ${ifName} up`,
        `addr add ${this.plan.linkLocal6}/64 dev ${ifName} nodad`,
        `route add ${p.ipv4}/32 dev ${ifName}`,
        `route add ${p.ipv6}/128 dev ${ifName}`,
      ]);
      stage = 2;
      await ipBatch(this.opts.runner, p.netns, [
        "link set lo up",
        `addr add ${p.ipv4}/32 dev eth0`,
        `addr add ${p.ipv6}/128 dev eth0 nodad`,
        "link set eth0 up",
        `route add ${this.plan.gateway4}/32 dev eth0 scope link`,
        `route add default via ${this.plan.gateway4} dev eth0`,
        `route add ::/0 via ${this.plan.linkLocal6} dev eth0`,
      ]);
      return p;
    } catch (err) {
      await this.unplumb(p, stage).catch(() => undefined);
      throw err;
    }
  }

  /** Undoes plumb() up to `stage` (2 = everything). */
  private async unplumb(p: Plumbing, stage = 2): Promise<void> {
    const errors: unknown[] = [];
    // Deleting the router end removes both ends at once (and the routes through it).
    if (stage >= 2) await ipBatch(this.opts.runner, this.router.name, [`link delete ${SANDBOX_IF_PREFIX}${p.seq}`]).catch((e: unknown) => errors.push(e));
    if (stage >= 1) await deleteNetns(this.opts.runner, p.netns).catch((e: unknown) => errors.push(e));
    this.numbers.free(p.number);
    if (errors.length > 0) throw errors[0];
  }

  closedRanges(tenantOpen: readonly string[]): string[] {
    return tenantOpen.length === 0 ? this.daemonClosed : closedCidrs(this.opts.config.netOpen, tenantOpen, [this.plan.range4, this.plan.range6]);
  }

  async attach(id: string, spec: { allowNet: NetRule[] | null; secrets: SecretBinding[]; closed: string[] }): Promise<NetworkAttachment> {
    return this.locks.run(id, async () => {
      if (this.sandboxes.has(id)) throw new DaemonError("NETWORK_FAILED", `sandbox ${id} already has a network`);
      const ca = spec.secrets.length > 0 ? createSandboxCa(id) : undefined;
      const plumbing = this.pool.take(undefined, { deferRefill: true }) ?? (await this.plumb());
      // Refill after this sandbox has started: its host commands would compete with the launch.
      this.pool.refillSoon();
      const closed = spec.closed;
      const sbx: SandboxNet = {
        ...plumbing,
        id,
        rules: spec.allowNet,
        secrets: spec.secrets,
        closed,
        learned: new Map(),
        intercepted: new Set(),
        ca: await ca,
      };
      let stage = 0;
      try {
        await nftApply(this.opts.runner, this.router.name, addSandboxScript(sbx, compilePolicy(sbx.rules), this.plan.gateway4, this.plan.gateway6, closed));
        stage = 1;
        this.sandboxes.set(id, sbx);
        await this.refreshProxyDeny();
        await this.netd!.setSandbox(sbx);
        stage = 2;
      } catch (err) {
        await this.undo(sbx, stage).catch((e: unknown) => this.opts.logger?.error({ err: e, sandboxId: id }, "undoing a failed network attach failed"));
        throw err;
      }
      return sandboxAttachment(this.plan, sbx);
    });
  }

  async adopt(id: string, facts: NetworkFacts): Promise<NetworkAttachment> {
    return this.locks.run(id, async () => {
      if (this.sandboxes.has(id)) throw new DaemonError("NETWORK_FAILED", `the network of sandbox ${id} cannot be adopted: it already has one`);
      if (!this.adoption) throw new DaemonError("NETWORK_FAILED", `the network of sandbox ${id} cannot be adopted: nothing was kept at start`);
      const { sbx, script } = this.adoption.claim(id, facts);
      try {
        // Through the batcher: adoptions at start run side by side and share nft runs.
        await this.admissions.apply(script);
        this.sandboxes.set(id, sbx);
        // netd's deny set is the previous run's, made for these same sandboxes: dropUnadopted
        // recomputes it once for all of them.
        await this.netd!.setSandbox(sbx);
      } catch (err) {
        this.sandboxes.delete(id);
        this.adoption.unclaim(sbx.seq);
        throw err;
      }
      if (sbx.secrets.some((s) => s.lost))
        this.opts.logger?.warn({ sandboxId: id }, "adopted sandbox lost its secrets (netd did not survive): requests needing them are refused");
      return sandboxAttachment(this.plan, sbx);
    });
  }

  async dropUnadopted(): Promise<void> {
    const a = this.adoption;
    this.adoption = undefined;
    if (!a) return;
    for (const { name, state, number } of a.leftovers()) {
      if (state)
        await nftApply(this.opts.runner, this.router.name, dropSeqScript(state)).catch((err: unknown) =>
          this.opts.logger?.warn({ err, netns: name }, "removing an unadopted sandbox's firewall entries failed"),
        );
      await deleteNetns(this.opts.runner, name);
      if (number !== undefined) this.numbers.free(number);
    }
    for (const id of a.served.keys()) if (!this.sandboxes.has(id)) await this.netd!.forgetSandbox(id).catch(() => undefined);
    await this.refreshProxyDeny();
  }

  async detach(): Promise<void> {
    await this.pool.close();
    await this.netd?.detach();
    this.netd = undefined;
    this.sandboxes.clear();
  }

  /** Undoes attach() up to `stage` (2 = everything), including the namespace. */
  private async undo(sbx: SandboxNet, stage: number): Promise<void> {
    const errors: unknown[] = [];
    if (stage >= 2) await this.netd!.forgetSandbox(sbx.id).catch((e: unknown) => errors.push(e));
    this.sandboxes.delete(sbx.id);
    if (stage >= 1) await this.refreshProxyDeny().catch((e: unknown) => errors.push(e));
    if (stage >= 1) await nftApply(this.opts.runner, this.router.name, deleteSandboxScript(sbx)).catch((e: unknown) => errors.push(e));
    await this.unplumb(sbx).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  async setAllowNet(id: string, allowNet: NetRule[] | null): Promise<void> {
    await this.locks.run(id, async () => {
      const sbx = this.require(id);
      await nftApply(this.opts.runner, this.router.name, replacePolicyScript(sbx, compilePolicy(allowNet), this.plan.gateway4, this.plan.gateway6));
      sbx.rules = allowNet;
      sbx.learned.clear();
      sbx.intercepted.clear();
      sbx.capped = false;
      await this.netd!.setRules(id, allowNet, sbx.closed);
    });
  }

  /** Replaces the ranges a running sandbox may never reach (its tenant's setting changed). */
  async setClosed(id: string, closed: string[]): Promise<void> {
    await this.locks.run(id, async () => {
      const sbx = this.require(id);
      await nftApply(this.opts.runner, this.router.name, setClosedScript(sbx, closed));
      sbx.closed = closed;
      await this.netd!.setRules(id, sbx.rules, closed);
      await this.refreshProxyDeny();
    });
  }

  private refreshProxyDeny(): Promise<void> {
    return this.proxyDeny.refresh(() => this.sandboxes.values());
  }

  /**
   * The resolver answered `name` with `addresses` for the sandbox at `ip`: admit them for the
   * ports its rules allow (and intercept them for secret hosts) before the answer goes out.
   */
  private async learn(ip: string, ports: PortRange[], intercept: boolean, addresses: string[]): Promise<void> {
    const sbx = [...this.sandboxes.values()].find((s) => s.ipv4 === ip || s.ipv6 === ip);
    // Not (or not yet: adoption after a restart) a sandbox of this daemon: nothing is admitted,
    // so the answer must not go out either (netd answers SERVFAIL).
    if (!sbx) throw new DaemonError("NETWORK_FAILED", `no sandbox of this daemon has address ${ip}`);
    let script = "";
    for (const address of addresses) {
      if (!sbx.learned.has(address) && !sbx.intercepted.has(address) && sbx.learned.size + sbx.intercepted.size >= MAX_LEARNED_ADDRESSES) {
        if (!sbx.capped)
          this.opts.logger?.warn(
            { sandboxId: sbx.id, max: MAX_LEARNED_ADDRESSES },
            "sandbox admitted the most addresses it may: new ones are not admitted until its policy changes",
          );
        sbx.capped = true;
        break;
      }
      const had = sbx.learned.get(address) ?? [];
      const add = subtractRanges(ports, had);
      if (add.length > 0) {
        script += learnScript(sbx, address, add);
        sbx.learned.set(address, unionRanges(had, add));
      }
      if (intercept && !sbx.intercepted.has(address)) {
        script += interceptScript(sbx, address);
        sbx.intercepted.add(address);
      }
    }
    await this.admissions.apply(script);
  }

  async connect(id: string, addresses: readonly string[], port: number): Promise<Duplex> {
    const sbx = this.require(id);
    return nsConnect(path.join(this.opts.nativeDir, "atoll-nsconnect"), netnsPath(sbx.netns), addresses, port);
  }

  async resolve(id: string, name: string): Promise<string[]> {
    const sbx = this.require(id);
    return this.netd!.resolveFor(sbx.ipv4, name);
  }

  sandboxCa(id: string): string | undefined {
    return this.sandboxes.get(id)?.ca?.certPem;
  }

  async release(id: string): Promise<void> {
    await this.locks.run(id, async () => {
      const sbx = this.sandboxes.get(id);
      if (sbx) await this.undo(sbx, 2);
    });
  }

  /** For the metrics: netd running now, how often it was restarted, namespaces ready in the pool. */
  health(): { netdUp: boolean; netdRestarts: number; pooledNamespaces: number } {
    return { netdUp: this.netd?.up ?? false, netdRestarts: this.netd?.restarts ?? 0, pooledNamespaces: this.pool.size };
  }

  async close(): Promise<void> {
    await this.pool.close();
    for (const id of [...this.sandboxes.keys()]) await this.release(id).catch(() => undefined);
    await this.netd?.stop();
    this.netd = undefined;
    await this.router.destroy();
  }

  private require(id: string): SandboxNet {
    const sbx = this.sandboxes.get(id);
    if (!sbx) throw new DaemonError("NETWORK_FAILED", `sandbox ${id} has no network`);
    return sbx;
  }
}
