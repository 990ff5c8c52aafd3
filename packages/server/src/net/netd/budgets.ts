/**
 * Per-sandbox budgets of netd (docs/network.md, "netd's limits"): how much of the one shared
 * resolver and proxy a single sandbox may hold, so that a sandbox that floods them is refused
 * while its neighbours are still served. Counted per sandbox (its IPv4 and IPv6 addresses
 * together), released when the connection or query ends.
 */

export interface BudgetLimits {
  /** Open connections to the proxies (HTTP and TLS together). */
  proxyConnections: number;
  /** Open DNS-over-TCP connections. */
  dnsConnections: number;
  /** DNS queries being answered at once. */
  dnsInFlight: number;
  /** DNS queries per second, sustained (token bucket)… */
  dnsPerSecond: number;
  /** …and in a burst. */
  dnsBurst: number;
  /** Bytes netd holds for the sandbox before a connection is routed (ClientHellos, partial DNS messages). */
  bufferedBytes: number;
}

export const DEFAULT_BUDGETS: BudgetLimits = {
  proxyConnections: 256,
  dnsConnections: 16,
  dnsInFlight: 64,
  dnsPerSecond: 200,
  dnsBurst: 400,
  bufferedBytes: 1024 * 1024,
};

interface Usage {
  proxyConnections: number;
  dnsConnections: number;
  dnsInFlight: number;
  tokens: number;
  refilledAt: number;
  bufferedBytes: number;
}

export type BudgetKind = "proxyConnections" | "dnsConnections" | "dnsInFlight";

/**
 * @example
 *   const release = budgets.take(policy.id, "proxyConnections");
 *   if (!release) return sock.destroy(); // over budget
 *   sock.once("close", release);
 */
export class SandboxBudgets {
  private readonly usage = new Map<string, Usage>();
  /** Refusals per sandbox since the last report (logged at most once a second per sandbox). */
  private readonly refusals = new Map<string, { count: number; loggedAt: number }>();

  constructor(
    private readonly limits: BudgetLimits = DEFAULT_BUDGETS,
    private readonly onRefused: (sandboxId: string, what: string, count: number) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  private of(id: string): Usage {
    let u = this.usage.get(id);
    if (!u) {
      u = { proxyConnections: 0, dnsConnections: 0, dnsInFlight: 0, tokens: this.limits.dnsBurst, refilledAt: this.now(), bufferedBytes: 0 };
      this.usage.set(id, u);
    }
    return u;
  }

  /** Takes one unit of `kind`; returns its release function, or undefined when over budget. */
  take(id: string, kind: BudgetKind): (() => void) | undefined {
    const u = this.of(id);
    if (u[kind] >= this.limits[kind]) return this.refused(id, kind);
    u[kind] += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      u[kind] -= 1;
      this.gc(id, u);
    };
  }

  /** One DNS query: counts against the rate and the queries in flight. */
  takeQuery(id: string): (() => void) | undefined {
    const u = this.of(id);
    const t = this.now();
    u.tokens = Math.min(this.limits.dnsBurst, u.tokens + ((t - u.refilledAt) / 1000) * this.limits.dnsPerSecond);
    u.refilledAt = t;
    if (u.tokens < 1) return this.refused(id, "dnsRate");
    const release = this.take(id, "dnsInFlight");
    if (release) u.tokens -= 1;
    return release;
  }

  /** Reserves `n` buffered bytes; false when the sandbox would hold more than its budget. */
  reserveBytes(id: string, n: number): boolean {
    const u = this.of(id);
    if (u.bufferedBytes + n > this.limits.bufferedBytes) {
      this.refused(id, "bufferedBytes");
      return false;
    }
    u.bufferedBytes += n;
    return true;
  }

  releaseBytes(id: string, n: number): void {
    const u = this.usage.get(id);
    if (!u) return;
    u.bufferedBytes = Math.max(0, u.bufferedBytes - n);
    this.gc(id, u);
  }

  /** What a sandbox holds now (tests, logs). */
  snapshot(id: string): Readonly<Usage> | undefined {
    return this.usage.get(id);
  }

  private refused(id: string, what: string): undefined {
    const r = this.refusals.get(id) ?? { count: 0, loggedAt: -Infinity };
    r.count += 1;
    const t = this.now();
    if (t - r.loggedAt >= 1000) {
      this.onRefused(id, what, r.count);
      r.count = 0;
      r.loggedAt = t;
    }
    this.refusals.set(id, r);
    return undefined;
  }

  /**
   * Forgets a sandbox that holds nothing and whose bucket has refilled completely, so memory
   * stays bounded by the sandboxes in use (a fresh record starts with a full bucket, so one with
   * fewer tokens must be kept, or sequential queries would never run out).
   */
  private gc(id: string, u: Usage): void {
    const refilled = u.tokens + ((this.now() - u.refilledAt) / 1000) * this.limits.dnsPerSecond;
    if (u.proxyConnections === 0 && u.dnsConnections === 0 && u.dnsInFlight === 0 && u.bufferedBytes === 0 && refilled >= this.limits.dnsBurst) {
      this.usage.delete(id);
      this.refusals.delete(id);
    }
  }

  /** Drops a sandbox's accounting (it was forgotten); its connections' releases become no-ops on a fresh record. */
  forget(id: string): void {
    this.usage.delete(id);
    this.refusals.delete(id);
  }
}
