/**
 * A daemon's adoption of the previous run's sandbox networks (docs/network.md, "Daemon
 * restarts"), between LinuxNetworkDriver.start(keep) and dropUnadopted(): what was kept on the
 * host, what the surviving netd still serves, and which kept networks were claimed. It decides;
 * the driver applies (nft, netd).
 */
import path from "node:path";
import type { NetworkFacts } from "../core/drivers.js";
import { DaemonError } from "../daemon-error.js";
import type { AddressPlan } from "./address-plan.js";
import type { CommandRunner } from "../host/run-command.js";
import { type HostNetState, numberOf, readHostNetState, seqOfNetns } from "./adoption-state.js";
import type { SandboxNet } from "./linux-network-driver.js";
import type { NetdSandbox } from "./netd-client.js";
import { compilePolicy, readoptScript, replacePolicyScript, setClosedScript } from "./nft-ruleset.js";
import { nftApply } from "./netns-ops.js";
import { type SeqState, dropSeqScript } from "./nft-state.js";
import type { Router } from "./router.js";

export class NetworkAdoption {
  /**
   * Takes over the previous run's router keeping the namespaces in `keep` (netnsPaths of
   * sandboxes that may be adopted): the other namespaces and their firewall entries go.
   * undefined when nothing is to be kept or there is no router left; throws when the router
   * cannot be taken over (the caller then starts afresh).
   */
  static async begin(router: Router, runner: CommandRunner, plan: AddressPlan, keep: readonly string[]): Promise<NetworkAdoption | undefined> {
    const names = new Set(keep.map((p) => path.basename(p)).filter((n) => seqOfNetns(router.name, n) !== undefined));
    if (names.size === 0 || !(await router.exists())) return undefined;
    await router.removeOrphans(names);
    await router.reuse();
    const host = await readHostNetState(runner, router.name, plan, [...names]);
    const stale = [...host.table.values()].filter((t) => !host.kept.has(t.seq));
    await nftApply(runner, router.name, stale.map(dropSeqScript).join(""));
    return new NetworkAdoption(host, router.name, plan);
  }

  private readonly adopted = new Set<number>();
  /** What the netd that outlived the previous daemon serves, by sandbox id (empty when it died). */
  served = new Map<string, NetdSandbox>();

  constructor(
    readonly host: HostNetState,
    private readonly router: string,
    private readonly plan: AddressPlan,
  ) {}

  /**
   * Checks `facts` against what was kept and gives the adopted sandbox's state with the nft
   * script that rewrites its policy from the store (one transaction). Throws NETWORK_FAILED.
   */
  claim(id: string, facts: NetworkFacts): { sbx: SandboxNet; script: string } {
    const name = path.basename(facts.netnsPath);
    const seq = seqOfNetns(this.router, name);
    const fail = (why: string) => new DaemonError("NETWORK_FAILED", `the network of sandbox ${id} cannot be adopted: ${why}`);
    if (seq === undefined || this.host.kept.get(seq) !== name || this.adopted.has(seq)) throw fail(`its namespace ${name} was not kept at start`);
    const number = numberOf(this.plan, facts.ipv4, facts.ipv6);
    const state = this.host.table.get(seq);
    if (number === undefined || this.host.numbers.get(seq) !== number) throw fail(`its addresses ${facts.ipv4} are not the ones routed to it`);
    if (!state?.chains.includes(`f${seq}`)) throw fail("its firewall entries are gone");
    const served = this.served.get(id);
    // Addresses admitted before stay admitted unless the policy may have changed meanwhile
    // (a setAllowNet the store did not record before the crash).
    const keepLearned = !served || JSON.stringify(served.rules) === JSON.stringify(facts.allowNet);
    const sbx: SandboxNet = {
      id,
      number,
      seq,
      netns: name,
      ipv4: facts.ipv4,
      ipv6: facts.ipv6,
      rules: facts.allowNet,
      // The surviving netd still has the secrets and the CA; without it they are lost (never on disk).
      secrets: served?.secrets ?? facts.secrets.map((s) => ({ ...s, value: "", lost: true })),
      closed: facts.closed,
      learned: keepLearned ? state.learned : new Map(),
      intercepted: keepLearned ? state.intercepted : new Set(),
      ca: served?.ca,
    };
    const policy = compilePolicy(sbx.rules);
    const { gateway4, gateway6 } = this.plan;
    const script = keepLearned
      ? readoptScript(sbx, policy, gateway4, gateway6, sbx.closed)
      : replacePolicyScript(sbx, policy, gateway4, gateway6) + setClosedScript(sbx, sbx.closed);
    this.adopted.add(seq);
    return { sbx, script };
  }

  /** The claim of `seq` did not complete: it may be claimed again. */
  unclaim(seq: number): void {
    this.adopted.delete(seq);
  }

  /** Kept namespaces nobody claimed, with their nft state and address number. */
  leftovers(): { name: string; state: SeqState | undefined; number: number | undefined }[] {
    return [...this.host.kept]
      .filter(([seq]) => !this.adopted.has(seq))
      .map(([seq, name]) => ({ name, state: this.host.table.get(seq), number: this.host.numbers.get(seq) }));
  }
}
