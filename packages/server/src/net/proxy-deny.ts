/**
 * What netd may not dial. netd dials for every sandbox as one user, so nftables cannot tell for
 * whom: it may not dial what is closed for every running sandbox (and never the daemon's own
 * ranges); netd itself checks each sandbox's own closed ranges before it dials (docs/network.md).
 *
 * @example await proxyDeny.refresh(sandboxes.values()); // after a sandbox's closed ranges changed
 */
import type { CommandRunner } from "../host/run-command.js";
import { type IpSet, intersect, setOfCidrs, toCidrs } from "../core/ip-intervals.js";
import { nftApply } from "./netns-ops.js";
import { setProxyDenyScript } from "./nft-ruleset.js";

export class ProxyDeny {
  /** As last applied ("" when unknown: the next refresh applies whatever it computes). */
  private applied: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly runner: CommandRunner,
    private readonly routerName: string,
    private readonly daemonClosed: readonly string[],
  ) {
    this.applied = daemonClosed.join(",");
  }

  /** The router's sets are a previous run's: recompute them on the next refresh. */
  forget(): void {
    this.applied = "";
  }

  /**
   * Recomputes the set from `sandboxes` (read when its turn comes) and applies it if it changed.
   * One refresh at a time: concurrent attaches must not apply an older set after a newer one.
   */
  refresh(sandboxes: () => Iterable<{ closed: readonly string[] }>): Promise<void> {
    const next = this.chain.then(() => this.apply(sandboxes()));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async apply(sandboxes: Iterable<{ closed: readonly string[] }>): Promise<void> {
    let deny: IpSet = setOfCidrs(this.daemonClosed);
    const seen = new Set<string>();
    for (const s of sandboxes) {
      const key = s.closed.join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      deny = intersect(deny, setOfCidrs(s.closed));
    }
    const cidrs = toCidrs(deny);
    if (cidrs.join(",") === this.applied) return;
    await nftApply(this.runner, this.routerName, setProxyDenyScript(cidrs));
    this.applied = cidrs.join(",");
  }
}
