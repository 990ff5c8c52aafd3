import type { DaemonRunRepo } from "../store/daemon-run-repo.js";

/** How the run before this one ended. */
export interface PreviousRun {
  version: string;
  startedAt: string;
  /** When it stopped: its clean stop, or (clean false) its last heartbeat. */
  endedAt: string;
  /** false: it crashed or was killed (SIGKILL, power loss), and this start recovered its state. */
  clean: boolean;
}

/** `GET /v1/daemon`: which daemon answers, since when, and how the previous run ended. */
export interface DaemonInfo {
  version: string;
  /** Schema version of the store (docs/operations.md, "Upgrading"). */
  schemaVersion: number;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  /** null on the first run of a state directory (or the first since runs are recorded). */
  previousRun: PreviousRun | null;
  /** What this start took over from the previous run (issue 13, live restore). */
  adoption?: AdoptionSummary;
}

/** Sandboxes and volumes a start adopted, and those it had to end. */
export interface AdoptionSummary {
  sandboxes: number;
  volumes: number;
  /** Ended at adoption: their timeout passed while no daemon ran. */
  timedOut: number;
  /** Stopped with `daemon-restart`: gone, silent, or not adoptable yet. */
  stopped: number;
  /** "adopted 12 sandboxes, 30 volumes; ended 1 whose timeout passed" */
  summary: string;
}

/** Heartbeat interval: how far off a crashed run's recorded end can be. */
const HEARTBEAT_MS = 30_000;

/**
 * Records this daemon run in the store (start, a heartbeat, clean stop) and remembers how the
 * previous run ended, for the API, the dashboard and the start-up log.
 *
 * @example const runs = DaemonRuns.begin(new DaemonRunRepo(db), { version: "0.1.0", schemaVersion: 6 }); … runs.stop();
 */
export class DaemonRuns {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly repo: DaemonRunRepo,
    private readonly runId: number,
    private readonly base: Omit<DaemonInfo, "uptimeSeconds">,
    private readonly now: () => Date,
  ) {}

  static begin(
    repo: DaemonRunRepo,
    opts: { version: string; schemaVersion: number; now?: () => Date; heartbeatMs?: number; adoption?: AdoptionSummary },
  ): DaemonRuns {
    const now = opts.now ?? (() => new Date());
    const before = repo.latest();
    const previousRun: PreviousRun | null = before
      ? { version: before.version, startedAt: before.startedAt, endedAt: before.stoppedAt ?? before.lastSeenAt, clean: before.stoppedAt !== null }
      : null;
    const startedAt = now().toISOString();
    const row = repo.start(opts.version, process.pid, startedAt);
    const base = { version: opts.version, schemaVersion: opts.schemaVersion, pid: process.pid, startedAt, previousRun };
    const runs = new DaemonRuns(repo, row.id, opts.adoption ? { ...base, adoption: opts.adoption } : base, now);
    runs.timer = setInterval(() => repo.heartbeat(row.id, now().toISOString()), opts.heartbeatMs ?? HEARTBEAT_MS).unref();
    return runs;
  }

  /** This run's number: runs recorded for the state directory so far, this one included (metrics). */
  get runNumber(): number {
    return this.runId;
  }

  info(): DaemonInfo {
    const uptimeSeconds = Math.max(0, Math.floor((this.now().getTime() - Date.parse(this.base.startedAt)) / 1000));
    return { ...this.base, uptimeSeconds };
  }

  /** A clean stop: recorded, so the next run reports it as such. */
  stop(): void {
    clearInterval(this.timer);
    this.repo.stopped(this.runId, this.now().toISOString());
  }
}
