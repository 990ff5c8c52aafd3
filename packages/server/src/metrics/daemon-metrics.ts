import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** A volume as the metrics see it: its row, and the usage the sampler last read (if any yet). */
export interface VolumeFigures {
  id: string;
  tenant: string;
  state: string;
  capacityBytes: number;
  usage?: { usedBytes: number; usedInodes: number; inodeCapacity: number } | undefined;
}

/**
 * Where the gauges come from at scrape time: in-memory state of the services and one statfs,
 * never a scan of a big store table (sandbox rows of stopped sandboxes, logs, samples).
 */
export interface MetricsSources {
  /** Sandboxes whose processes are alive (LiveSandboxes). */
  liveSandboxes(): readonly { tenant: string; stopping: boolean }[];
  /** Every volume (the volumes table is small: one row per volume). */
  volumes(): readonly VolumeFigures[];
  /** statfs of the state directory. */
  stateDirDisk(): Promise<{ availableBytes: number; totalBytes: number; freeInodes: number }>;
  /** Ready entries of each warm pool ("scratch", "launcher"). */
  warmPools?(): Promise<Record<string, number>>;
  /** netd, when sandbox networks are on. */
  netd?(): { up: boolean; restarts: number };
  /** Daemon runs recorded in the store (`daemon_runs`): this one is number `starts`. */
  daemonRuns(): { starts: number; startedAt: string; previousClean: boolean | null };
}

/** Create → ready latency buckets, in seconds (a warm create is ~0.1 s, a cold one seconds). */
const CREATE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/**
 * The daemon's Prometheus metrics (docs/operations.md, "Metrics"), on a registry of its own (so
 * two daemons in one process, as in tests, do not share figures). Counters and the histogram are
 * moved where the events happen (the API hook, the command log); gauges are read from `sources`
 * when scraped. Features that arrive later report through the hooks `countSnapshots` and
 * `adoptions`.
 *
 * @example const m = new DaemonMetrics(sources); m.createStarted("default"); m.createEnded("default", "ok", 0.12); await m.registry.metrics();
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  /** Sandboxes being created now, per tenant (state "starting"): the API hook moves it. */
  private readonly starting = new Map<string, number>();
  private readonly creates: Counter<"outcome">;
  private readonly createSeconds: Histogram;
  private readonly commands: Counter<"user">;
  private readonly errors: Counter<"code">;
  /** Hook for live restore: sandboxes a daemon start adopted (outcome "adopted") or could not ("lost"). */
  readonly adoptions: Counter<"outcome">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.creates = new Counter({
      name: "atoll_sandbox_creates_total",
      help: "Sandbox creates by outcome (ok, or the error code).",
      labelNames: ["outcome"],
      registers,
    });
    this.createSeconds = new Histogram({
      name: "atoll_sandbox_create_seconds",
      help: "Time from a create request to a running sandbox (successful creates).",
      buckets: CREATE_BUCKETS,
      registers,
    });
    this.commands = new Counter({
      name: "atoll_commands_total",
      help: "Commands started in sandboxes, by user (app or root).",
      labelNames: ["user"],
      registers,
    });
    this.errors = new Counter({ name: "atoll_api_errors_total", help: "API requests answered with an error, by error code.", labelNames: ["code"], registers });
    this.adoptions = new Counter({
      name: "atoll_sandbox_adoptions_total",
      help: "Sandboxes of an earlier daemon run found at start, by outcome.",
      labelNames: ["outcome"],
      registers,
    });
    const self = this;
    new Gauge({
      name: "atoll_sandboxes",
      help: "Sandboxes that are not stopped, by state and tenant.",
      labelNames: ["state", "tenant"],
      registers,
      collect() {
        this.reset();
        for (const [tenant, n] of self.starting) this.inc({ state: "starting", tenant }, n);
        for (const s of sources.liveSandboxes()) this.inc({ state: s.stopping ? "stopping" : "running", tenant: s.tenant });
      },
    });
    this.volumeGauges(sources, registers);
    this.hostGauges(sources, registers);
  }

  /**
   * Hook for snapshots: `atoll_snapshots` reads `count` at each scrape (call once, when the
   * snapshot service starts; the gauge is absent until then).
   */
  countSnapshots(count: () => number): void {
    new Gauge({
      name: "atoll_snapshots",
      help: "Volume snapshots kept.",
      registers: [this.registry],
      collect() {
        this.set(count());
      },
    });
  }

  /** A sandbox create began (the API hook): it counts as "starting" until `createEnded`. */
  createStarted(tenant: string): void {
    this.starting.set(tenant, (this.starting.get(tenant) ?? 0) + 1);
  }

  /** A create ended: `outcome` "ok" (then `seconds` is its create → ready time) or its error code. */
  createEnded(tenant: string, outcome: string, seconds: number): void {
    const n = (this.starting.get(tenant) ?? 1) - 1;
    if (n > 0) this.starting.set(tenant, n);
    else this.starting.delete(tenant);
    this.creates.inc({ outcome });
    if (outcome === "ok") this.createSeconds.observe(seconds);
  }

  /** A session started a command. */
  commandStarted(user: "app" | "root"): void {
    this.commands.inc({ user });
  }

  /** A request was answered with error `code`. */
  apiError(code: string): void {
    this.errors.inc({ code });
  }

  private volumeGauges(sources: MetricsSources, registers: Registry[]): void {
    const perVolume = (name: string, help: string, pick: (v: VolumeFigures) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["volume", "tenant"],
        registers,
        collect() {
          this.reset();
          for (const v of sources.volumes()) {
            const value = v.state === "ready" ? pick(v) : undefined;
            if (value !== undefined) this.set({ volume: v.id, tenant: v.tenant }, value);
          }
        },
      });
    new Gauge({
      name: "atoll_volumes",
      help: "Volumes by state and tenant.",
      labelNames: ["state", "tenant"],
      registers,
      collect() {
        this.reset();
        for (const v of sources.volumes()) this.inc({ state: v.state, tenant: v.tenant });
      },
    });
    perVolume("atoll_volume_capacity_bytes", "Capacity of each ready volume.", (v) => v.capacityBytes);
    perVolume("atoll_volume_used_bytes", "Bytes used in each volume, as last sampled (ATOLL_USAGE_SAMPLE_INTERVAL).", (v) => v.usage?.usedBytes);
    perVolume("atoll_volume_used_inodes", "Inodes used in each volume, as last sampled.", (v) => v.usage?.usedInodes);
    perVolume("atoll_volume_inode_capacity", "Inodes each volume's filesystem has.", (v) => v.usage?.inodeCapacity);
  }

  private hostGauges(sources: MetricsSources, registers: Registry[]): void {
    // prom-client collects all metrics at once: each of the three reads statfs itself (a syscall).
    const statfsGauge = (name: string, help: string, pick: (s: Awaited<ReturnType<MetricsSources["stateDirDisk"]>>) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(pick(await sources.stateDirDisk()));
        },
      });
    statfsGauge("atoll_state_dir_free_bytes", "Bytes available to the daemon on the state directory's filesystem (statfs).", (s) => s.availableBytes);
    statfsGauge("atoll_state_dir_size_bytes", "Size of the state directory's filesystem.", (s) => s.totalBytes);
    statfsGauge("atoll_state_dir_free_inodes", "Free inodes on the state directory's filesystem.", (s) => s.freeInodes);
    new Gauge({
      name: "atoll_warm_pool_ready",
      help: "Prepared entries waiting in each warm pool (scratch filesystems, launchers).",
      labelNames: ["pool"],
      registers,
      async collect() {
        this.reset();
        for (const [pool, n] of Object.entries((await sources.warmPools?.()) ?? {})) this.set({ pool }, n);
      },
    });
    const netd = sources.netd;
    if (netd) {
      new Gauge({
        name: "atoll_netd_up",
        help: "1 while netd (sandbox DNS and egress proxy) runs, 0 while it is being restarted.",
        registers,
        collect() {
          this.set(netd().up ? 1 : 0);
        },
      });
      new Gauge({
        name: "atoll_netd_restarts",
        help: "Times netd was restarted by this daemon run.",
        registers,
        collect() {
          this.set(netd().restarts);
        },
      });
    }
    new Gauge({
      name: "atoll_daemon_starts",
      help: "Daemon starts recorded for this state directory (daemon_runs); restarts are this minus one.",
      registers,
      collect() {
        this.set(sources.daemonRuns().starts);
      },
    });
    new Gauge({
      name: "atoll_daemon_start_time_seconds",
      help: "When this daemon run started (Unix time).",
      registers,
      collect() {
        this.set(Date.parse(sources.daemonRuns().startedAt) / 1000);
      },
    });
    // Fixed for the run, and absent on a first run (a label-less gauge would always show 0).
    const clean = sources.daemonRuns().previousClean;
    if (clean !== null)
      new Gauge({
        name: "atoll_daemon_previous_run_clean",
        help: "1 when the previous daemon run stopped cleanly, 0 when it crashed or was killed (absent on a first run).",
        registers,
      }).set(clean ? 1 : 0);
  }
}
