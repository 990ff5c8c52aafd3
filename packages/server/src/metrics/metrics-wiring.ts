import type { DaemonRuns } from "../core/daemon-runs.js";
import type { LiveSandboxes } from "../core/live-sandboxes.js";
import type { UsageSampler } from "../core/usage-sampler.js";
import { statfsUsage } from "../host/mounts.js";
import type { LinuxNetworkDriver } from "../net/linux-network-driver.js";
import type { BwrapRuntime } from "../runtime/bwrap-runtime.js";
import type { VolumeRepo } from "../store/volume-repo.js";
import { DaemonMetrics } from "./daemon-metrics.js";

/** The daemon's metrics, reading the services the daemon made (daemon.ts). */
export function daemonMetrics(d: {
  stateDir: string;
  live: LiveSandboxes;
  volumes: VolumeRepo;
  usage: UsageSampler;
  runtime: BwrapRuntime;
  netDriver: LinuxNetworkDriver | undefined;
  runs: DaemonRuns;
}): DaemonMetrics {
  const { netDriver } = d;
  return new DaemonMetrics({
    liveSandboxes: () => d.live.all(),
    volumes: () =>
      d.volumes.listAll().map((v) => ({ id: v.id, tenant: v.tenant, state: v.state, capacityBytes: v.capacityBytes, usage: d.usage.latest(v.id) })),
    stateDirDisk: () => statfsUsage(d.stateDir),
    warmPools: async () => ({ ...(await d.runtime.warmPoolSizes()), ...(netDriver ? { netns: netDriver.health().pooledNamespaces } : {}) }),
    ...(netDriver ? { netd: () => ({ up: netDriver.health().netdUp, restarts: netDriver.health().netdRestarts }) } : {}),
    daemonRuns: () => {
      const info = d.runs.info();
      return { starts: d.runs.runNumber, startedAt: info.startedAt, previousClean: info.previousRun?.clean ?? null };
    },
  });
}
