/**
 * What the dashboard's event stream (`GET /ui/events`) sends. Shared by the daemon side and the
 * browser code (which imports these types only, so nothing of the server reaches the page).
 */
import type { CommandLogEntry, SandboxInfo, SnapshotInfo, VolumeInfo } from "atoll/contract";

/** A volume row: the API's VolumeInfo plus the stale mark. */
export interface DashboardVolume extends VolumeInfo {
  /** Not attached now, and not attached since `idleSince` for longer than `staleAfterMs`. */
  stale: boolean;
  /** When it was last attached (or created, if never); null while attached. */
  idleSince: string | null;
}

/** A volume snapshot row: the API's SnapshotInfo, and whether the volume it was taken of is gone (snapshots outlive it). */
export interface DashboardSnapshot extends SnapshotInfo {
  sourceDeleted: boolean;
}

/** Live figures of a running sandbox. */
export interface SandboxUsage {
  memoryBytes: number;
  /** CPU use since the previous figure, in % of one core (can exceed 100); null for the first figure. */
  cpuPercent: number | null;
  pids: number;
}

/** A sandbox row: the API's SandboxInfo plus its live figures (null when not running). */
export type DashboardSandbox = SandboxInfo & { usage: SandboxUsage | null };

export interface DashboardTotals {
  volumes: number;
  staleVolumes: number;
  /** Sum of the volumes' sizes: what has been promised. */
  capacityBytes: number;
  /** Sum of what the volumes hold now. */
  usedBytes: number;
  /** Free on the host filesystem that holds the volume images. */
  hostFreeBytes: number;
  /** How much of the promised-but-unused capacity the host could not store: max(0, (capacity − used) − free). */
  overcommitBytes: number;
  sandboxesRunning: number;
}

/** Event `overview`: everything the volumes and sandboxes pages show. */
export interface Overview {
  at: string;
  staleAfterMs: number;
  totals: DashboardTotals;
  volumes: DashboardVolume[];
  /** Running (and starting) sandboxes, newest first. Stopped ones come from GET /v1/sandboxes?state=stopped. */
  sandboxes: DashboardSandbox[];
  /** The tenant's volume snapshots, newest first. */
  snapshots: DashboardSnapshot[];
}

/** Event `focus`: the sandbox the page shows (`/ui/events?sandbox=ID`), with its command log. */
export interface SandboxFocus {
  sandbox: DashboardSandbox | null;
  commands: CommandLogEntry[];
}

/** Event `samples`: new usage samples were stored; pages showing a chart refetch it. */
export interface SamplesEvent {
  at: string;
}
