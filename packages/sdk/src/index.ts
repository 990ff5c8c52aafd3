/**
 * Atoll SDK: create sandboxes, run commands in them, and give them persistent volumes.
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
export { VolumeFs } from "./volume-fs.js";
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
export * from "./contract/index.js";
