/**
 * The router namespace of one daemon (`atoll-<hash>`): every sandbox veth ends here, the
 * firewall (nft-ruleset.ts) runs here, the resolver and proxy (netd) listen here, and the uplink
 * veth (if any) leaves from here. Its sysctls (forwarding, unprivileged ports) are its own: the
 * host's stay untouched. Deleting the namespace removes all of it at once.
 */
import type { Logger } from "pino";
import type { CommandRunner } from "../host/run-command.js";
import type { AddressPlan } from "./address-plan.js";
import { DaemonError } from "../daemon-error.js";
import { HostUplink } from "./host-uplink.js";
import type { UplinkSpec } from "./net-config.js";
import { addNetns, deleteNetns, ipBatch, listNetns, netnsPath, nftApply, nsRun, nsSysctl } from "./netns-ops.js";
import { TABLE, UPLINK_IF, baseRuleset } from "./nft-ruleset.js";

export interface RouterOptions {
  /** Namespace name of the router; sandbox namespaces are `<name>-<sandboxId>`. */
  name: string;
  /** Runs ip and nft (the daemon's host spawner). */
  runner: CommandRunner;
  plan: AddressPlan;
  uplink: UplinkSpec;
  /** For the host uplink: where ip_forward's previous value is kept. */
  stateFile: string;
  /** What netd may never dial at first (the ranges closed for every tenant, our own). */
  proxyDeny: string[];
  logger?: Logger | undefined;
}

export class Router {
  readonly name: string;
  /** Name of the uplink veth's far end (in the host or the uplink namespace), ≤ 15 characters. */
  readonly peerIf: string;
  private hostUplink: HostUplink | undefined;

  constructor(private readonly opts: RouterOptions) {
    this.name = opts.name;
    this.peerIf = `atl${opts.name.slice(-8)}u`;
  }

  get path(): string {
    return netnsPath(this.name);
  }

  /** Whether a previous run's router namespace is still there. */
  async exists(): Promise<boolean> {
    return (await listNetns(this.name)).includes(this.name);
  }

  /**
   * Removes what a previous run of this daemon left: its namespaces and its host table. With
   * `keep` (namespaces of sandboxes being adopted), only the other sandbox namespaces go and the
   * router stays (reuse() takes it over).
   */
  async removeOrphans(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    const names = await listNetns(this.name);
    const orphans = names.filter((x) => x !== this.name && !keep.has(x));
    // Sandboxes first: their veths end in the router.
    for (const n of orphans) await deleteNetns(this.opts.runner, n);
    if (keep.size > 0) return orphans;
    if (names.includes(this.name)) await deleteNetns(this.opts.runner, this.name);
    await HostUplink.removeTable(this.opts.runner, this.name);
    // The old router namespace lives on while a process (its netd, exiting) is in it, and with it
    // the far end of its uplink veth: delete that end now, which deletes both.
    const { uplink } = this.opts;
    if (uplink.kind !== "none") {
      await ipBatch(this.opts.runner, uplink.kind === "host" ? null : uplink.name, [`link delete ${this.peerIf}`]).catch((err: unknown) => {
        if (!/Cannot find device/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
      });
    }
    return names;
  }

  async create(): Promise<void> {
    const { plan, uplink } = this.opts;
    await addNetns(this.opts.runner, this.name);
    try {
      await nsSysctl(this.opts.runner, this.name, {
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        // netd runs as nobody and listens on 53.
        "net.ipv4.ip_unprivileged_port_start": "0",
      });
      const lines = ["link set lo up", `addr add ${plan.gateway4}/32 dev lo`, `addr add ${plan.gateway6}/128 dev lo`];
      if (uplink.kind !== "none") {
        // "The host" is the daemon's own network namespace, never pid 1's: pid 1 may be another
        // program whose namespaces cannot be read, and a daemon started in a namespace stays there.
        const peerNs = uplink.kind === "host" ? `/proc/${process.pid}/ns/net` : netnsPath(uplink.name);
        lines.push(
          `link add ${UPLINK_IF} type veth peer name ${this.peerIf} netns ${peerNs}`,
          `addr add ${plan.transit4.router}/${plan.transit4.prefix} dev ${UPLINK_IF}`,
          `addr add ${plan.transit6.router}/${plan.transit6.prefix} dev ${UPLINK_IF} nodad`,
          `link set ${UPLINK_IF} up`,
          `route add default via ${plan.transit4.peer} dev ${UPLINK_IF}`,
          `route add ::/0 via ${plan.transit6.peer} dev ${UPLINK_IF}`,
        );
      }
      await ipBatch(this.opts.runner, this.name, lines);
      if (uplink.kind !== "none") {
        await ipBatch(this.opts.runner, uplink.kind === "host" ? null : uplink.name, [
          `addr add ${plan.transit4.peer}/${plan.transit4.prefix} dev ${this.peerIf}`,
          `addr add ${plan.transit6.peer}/${plan.transit6.prefix} dev ${this.peerIf} nodad`,
          `link set ${this.peerIf} up`,
        ]);
      }
      if (uplink.kind === "host") {
        this.hostUplink = new HostUplink(this.opts.runner, this.name, this.peerIf, plan.transit4.router, this.opts.stateFile);
        await this.hostUplink.setup();
      }
      await nftApply(
        this.opts.runner,
        this.name,
        baseRuleset({
          gateway4: plan.gateway4,
          gateway6: plan.gateway6,
          proxyDeny: this.opts.proxyDeny,
        }),
      );
      this.opts.logger?.info({ router: this.name, uplink: uplink.kind }, "network router ready");
    } catch (err) {
      await this.destroy().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Takes over the router a previous run left (its sandboxes are being adopted): its namespace,
   * veths, nftables table and uplink stay as they are; the host uplink's table is set again.
   */
  async reuse(): Promise<void> {
    await nsRun(this.opts.runner, this.name, "nft", ["list", "table", "inet", TABLE]);
    // The uplink must be the configured one: its far end where this configuration expects it.
    const { uplink } = this.opts;
    const hasUplink = await ipBatch(this.opts.runner, this.name, [`link show ${UPLINK_IF}`]).then(
      () => true,
      () => false,
    );
    if (hasUplink !== (uplink.kind !== "none")) throw new DaemonError("NETWORK_FAILED", `the previous router's uplink is not --uplink ${uplink.kind}`);
    if (uplink.kind !== "none") await ipBatch(this.opts.runner, uplink.kind === "host" ? null : uplink.name, [`link show ${this.peerIf}`]);
    if (this.opts.uplink.kind === "host") {
      const { plan } = this.opts;
      this.hostUplink = new HostUplink(this.opts.runner, this.name, this.peerIf, plan.transit4.router, this.opts.stateFile);
      await this.hostUplink.setup();
    }
    this.opts.logger?.info({ router: this.name, uplink: this.opts.uplink.kind }, "network router of the previous run taken over");
  }

  /** Deletes the router namespace (and with it the uplink veth) and the host table. */
  async destroy(): Promise<void> {
    const errors: unknown[] = [];
    await deleteNetns(this.opts.runner, this.name).catch((e: unknown) => errors.push(e));
    if (this.hostUplink) await this.hostUplink.teardown().catch((e: unknown) => errors.push(e));
    else await HostUplink.removeTable(this.opts.runner, this.name).catch((e: unknown) => errors.push(e));
    this.hostUplink = undefined;
    if (errors.length > 0) throw errors[0];
  }
}
