import type { SandboxService } from "../core/sandbox-service.js";
import type { AttachmentService } from "../core/attachment-service.js";
import type { CommandLog } from "../core/command-log.js";
import type { SandboxMonitor } from "../core/sandbox-monitor.js";
import type { UsageSampler } from "../core/usage-sampler.js";
import type { VolumeService } from "../core/volume-service.js";
import type { SnapshotService } from "../core/snapshot-service.js";
import type { FileService } from "../core/file-service.js";
import type { NetworkService } from "../core/network-service.js";
import type { DaemonInfo } from "../core/daemon-runs.js";
import type { BackupService } from "../core/backup-service.js";
import type { ImageImportService } from "../core/image-import-service.js";

/** What the routes call. Handlers parse and map; these decide. */
export interface Services {
  sandboxes: SandboxService;
  volumes: VolumeService;
  /** Volume snapshots (docs/snapshots.md). */
  snapshots: SnapshotService;
  attachments: AttachmentService;
  /** Live figures of running sandboxes. */
  monitor: SandboxMonitor;
  /** Commands each sandbox ran. */
  commandLog: CommandLog;
  /** Volume usage history. */
  usage: UsageSampler;
  /** Files of sandboxes and volumes (docs/files.md). */
  files: FileService;
  /** allowNet changes, exposed ports, sandbox.fetch (docs/network.md). */
  network?: NetworkService;
  /** This daemon run: version, uptime, how the previous run ended (core/daemon-runs.ts). */
  daemon: { info(): DaemonInfo };
  /** Volume export and import (issue 17); absent: the routes are not offered. */
  backups?: BackupService;
  /** `atoll image import`: OCI archives become bootable snapshots (docs/images.md); absent: 404. */
  images?: ImageImportService;
}
