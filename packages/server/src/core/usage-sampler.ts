import type { VolumeUsageSample } from "atoll/contract";
import type { Logger } from "pino";
import type { UsageSampleRepo } from "../store/usage-sample-repo.js";
import type { VolumeRepo } from "../store/volume-repo.js";
import type { CommandLog } from "./command-log.js";
import type { StorageDriver, VolumeUsage } from "./drivers.js";

export interface UsageSamplerOptions {
  /** Time between two samples of every volume (default 60 s). */
  intervalMs: number;
  /** Samples (and command logs of stopped sandboxes) older than this are deleted (default 30 days). */
  retentionMs: number;
}

/** A sample is stored when the figure changed, or at least this often per volume (chart density). */
const HEARTBEAT_SAMPLES = 15;

/**
 * Samples the used bytes of every volume into the store, for the dashboard's usage charts, and
 * applies retention to the samples and to the command logs of long-stopped sandboxes. One
 * timer; a tick reads each volume's usage through the storage driver (statfs when mounted,
 * the ext4 superblock otherwise) and writes a row only when the figure changed or the last row
 * is older than HEARTBEAT_SAMPLES intervals, so idle volumes cost little.
 */
export class UsageSampler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private ticks = 0;
  private readonly listeners = new Set<() => void>();
  /** The last usage read of each volume (metrics read it at scrape instead of reading the volume). */
  private readonly latestUsage = new Map<string, VolumeUsage>();

  constructor(
    private readonly deps: {
      volumes: VolumeRepo;
      samples: UsageSampleRepo;
      storage: StorageDriver;
      commandLog?: CommandLog;
      logger: Logger;
      options: UsageSamplerOptions;
    },
  ) {}

  /** Starts sampling (a first sample right away). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.deps.options.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Calls `listener` after each tick that stored something; returns the unsubscribe function. */
  onSample(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stored samples of a volume at or after `since`, oldest first. */
  history(volumeId: string, since: Date): VolumeUsageSample[] {
    return this.deps.samples.since(volumeId, since.toISOString());
  }

  /** The usage the last tick read for a volume, if it read one. */
  latest(volumeId: string): VolumeUsage | undefined {
    return this.latestUsage.get(volumeId);
  }

  /** One round: sample every ready volume; every 60th round, apply retention. */
  tick(): Promise<void> {
    this.running ??= this.sampleAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sampleAll(): Promise<void> {
    const { volumes, samples, storage, logger, options } = this.deps;
    let stored = 0;
    const all = volumes.listAll();
    for (const id of this.latestUsage.keys()) if (!all.some((v) => v.id === id && v.state === "ready")) this.latestUsage.delete(id);
    for (const v of all) {
      if (v.state !== "ready") continue;
      try {
        const usage = await storage.usage(v.id);
        this.latestUsage.set(v.id, usage);
        const { usedBytes } = usage;
        const now = new Date();
        const last = samples.last(v.id);
        const stale = !last || now.getTime() - Date.parse(last.at) >= HEARTBEAT_SAMPLES * options.intervalMs;
        if (stale || last.usedBytes !== usedBytes) {
          samples.insert(v.id, now.toISOString(), usedBytes);
          stored++;
        }
      } catch (err) {
        // Deleted meanwhile, or its image is unreadable: the next tick tries again.
        logger.debug({ err, volumeId: v.id }, "usage sample skipped");
      }
    }
    if (this.ticks++ % 60 === 0) this.applyRetention();
    if (stored > 0) for (const l of this.listeners) l();
  }

  private applyRetention(): void {
    const before = new Date(Date.now() - this.deps.options.retentionMs);
    try {
      const samples = this.deps.samples.prune(before.toISOString());
      const commands = this.deps.commandLog?.pruneStopped(before) ?? 0;
      if (samples + commands > 0) this.deps.logger.info({ samples, commands }, "usage samples and command logs pruned");
    } catch (err) {
      this.deps.logger.warn({ err }, "retention pass failed");
    }
  }
}
