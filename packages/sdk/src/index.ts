/**
 * Atoll SDK: create sandboxes, run commands in them, and give them persistent volumes. Programs
 * written for Deno Sandbox (`@deno/sandbox` 0.13.2) run with only their import line changed
 * (docs/deno-compatibility.md). Everything exported here is public; the wire contract the daemon
 * shares is `atoll/contract`.
 *
 * @example
 *   import { Sandbox } from "atoll";
 *
 *   const volume = await Sandbox.createVolume({ name: "agent-cache", sizeGb: 5 });
 *   await using sandbox = await Sandbox.create({
 *     volumes: [{ id: volume.id, mountPath: "/mnt/cache", accessMode: "rw" }],
 *   });
 *   await sandbox.sh`ls /mnt/cache`;
 *
 * @example
 *   import { Client } from "atoll";
 *
 *   const client = new Client();
 *   const volume = await client.volumes.create({ slug: "my-cache", region: "ord", capacity: "1GiB" });
 *   await using sandbox = await client.sandboxes.create({ volumes: { "/data": volume.slug } });
 *
 * @module
 */
export { Sandbox, type DetachVolumeOptions, type ShellTag } from "./sandbox.js";
export { Client, type CreateSandboxOptions, type ListSandboxesFilter } from "./client.js";
export { Volume, type DeleteVolumeOptions } from "./volume.js";
export { Snapshot } from "./snapshot.js";
export { AdminClient } from "./admin-client.js";
export { SandboxEnv } from "./sandbox-env.js";
export { FileSystem } from "./file-system.js";
export { SandboxFs } from "./sandbox-fs.js";
export { SandboxDeno, DenoRepl, type DenoProcess, type DenoRunOptions, type DenoReplOptions, type CodeExtension } from "./sandbox-deno.js";
export { VolumeFs } from "./volume-fs.js";
export type { ExportVolumeOptions, ImportVolumeOptions } from "./volume-backup.js";
export type {
  DirEntry,
  ExpandGlobOptions,
  FileInfo,
  MakeTempOptions,
  MkdirOptions,
  RemoveOptions,
  TransferOptions,
  TransferProgress,
  TransferSummary,
  WalkEntry,
  WalkOptions,
  WriteFileOptions,
} from "./fs-types.js";
export type { ChildProcess, ProcessOutput } from "./child-process.js";
export type { ShellCommand, ShellResult, ShellStdin } from "./shell-command.js";
export type { SpawnOptions, StdioMode, SandboxUser } from "./spawn-options.js";
export type { ConnectionOptions } from "./connection.js";
export { CommandError, SandboxCommandError } from "./command-error.js";
export { KillController, KillSignal, type KillSignalListener } from "./kill-controller.js";
export type { DenoSandboxOptions, Region, SnapshotInit, VolumeInit } from "./deno-options.js";
export type { DenoSandboxes, DenoSnapshots, DenoVolumes, PaginatedList, SandboxMetadata, VolumeListOptions } from "./deno-client.js";
export {
  AtollError,
  AuthenticationError,
  CapacityError,
  CommandTimeoutError,
  ConflictError,
  ConnectionError,
  DaemonRestartedError,
  FileSystemError,
  InvalidArgumentError,
  ArchiveInvalidError,
  NetworkError,
  NotFoundError,
  SandboxNotRunningError,
  ServerError,
  ShellSecret,
  formatBytes,
  secret,
} from "./contract/index.js";
export type {
  AccessMode,
  ApiErrorCode,
  AuditEntry,
  AuditList,
  AuditQuery,
  CommandStatus,
  CreateSandboxRequest,
  CreateTokenRequest,
  CreateVolumeRequest,
  CreatedToken,
  EnvResponse,
  ErrorCode,
  ExposedPort,
  SandboxInfo,
  SandboxNetworkInfo,
  SandboxState,
  SecretsRequest,
  TenantInfo,
  TenantNetRequest,
  TenantQuotaRequest,
  TokenInfo,
  VolumeAttachment,
  VolumeInfo,
  VolumeMountRequest,
} from "./contract/index.js";
