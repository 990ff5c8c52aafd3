/**
 * Loop devices: attach an image file, detach, and list what is attached (from sysfs).
 *
 * Rule: one image is never attached to two loop devices (two block devices over one file
 * corrupt an ext4 filesystem mounted through both). `attachLoop` refuses an image that is
 * already attached, and serialises attaches of the same image inside this process.
 */
import { readFileSync, readdirSync } from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { AtollError } from "atoll/contract";
import { KeyedMutex } from "./keyed-mutex.js";
import type { CommandRunner } from "./run-command.js";
import { DaemonError } from "../daemon-error.js";

/** One attached loop device. */
export interface LoopDevice {
  /** Device node, e.g. "/dev/loop3". */
  device: string;
  /**
   * Absolute path of the backing file as the kernel reports it (symlinks resolved).
   * When the file was deleted while attached, the kernel appends " (deleted)"; `deleted` is
   * then true and this field holds the path without that suffix.
   */
  backingFile: string;
  /** The backing file was unlinked while attached. */
  deleted: boolean;
  /** The device detaches itself when its last user closes it (after `losetup -d` on a busy device). */
  autoclear: boolean;
  /** Direct I/O to the backing file is on. */
  directIo: boolean;
  readOnly: boolean;
}

/** Thrown by `attachLoop` when the image already backs a loop device. Internal (LOOP_ALREADY_ATTACHED). */
export class LoopAlreadyAttachedError extends AtollError {
  constructor(
    readonly image: string,
    readonly device: string,
  ) {
    super("LOOP_ALREADY_ATTACHED", `${image} is already attached to ${device}; one image must never back two loop devices`);
  }
}

export interface AttachLoopOptions {
  /**
   * Open the backing file with O_DIRECT (`--direct-io=on`): no double caching of the data in
   * the host page cache. Default true (see the storage measurements in the backend report).
   */
  directIo?: boolean;
  readOnly?: boolean;
  /** Logical sector size of the device (`--sector-size`); default: the kernel's choice. */
  sectorSize?: 512 | 1024 | 2048 | 4096;
}

const DELETED_SUFFIX = " (deleted)";
const attachLock = new KeyedMutex();

function readSysfsSync(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").replace(/\n$/, "");
  } catch {
    return undefined; // not bound, detached meanwhile, or attribute missing on this kernel
  }
}

async function readSysfs(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, "utf8")).replace(/\n$/, "");
  } catch {
    return undefined; // device detached meanwhile, or attribute missing on this kernel
  }
}

/**
 * Lists every attached loop device with its backing file, read from
 * /sys/block/loop*\/loop/ (devices without a backing file are skipped).
 */
export async function listLoopDevices(): Promise<LoopDevice[]> {
  // Synchronous on purpose: a host keeps every loop device it ever created (hundreds after many
  // sandboxes), and one failed open per unbound device through the async thread pool costs
  // milliseconds, where direct syscalls cost microseconds.
  let names: string[];
  try {
    names = readdirSync("/sys/block").filter((n) => /^loop\d+$/.test(n));
  } catch {
    return [];
  }
  const devices: LoopDevice[] = [];
  for (const name of names) {
    const dir = `/sys/block/${name}`;
    const backing = readSysfsSync(`${dir}/loop/backing_file`);
    if (backing === undefined || backing === "") continue;
    const deleted = backing.endsWith(DELETED_SUFFIX);
    devices.push({
      device: `/dev/${name}`,
      backingFile: deleted ? backing.slice(0, -DELETED_SUFFIX.length) : backing,
      deleted,
      autoclear: readSysfsSync(`${dir}/loop/autoclear`) === "1",
      directIo: readSysfsSync(`${dir}/loop/dio`) === "1",
      readOnly: readSysfsSync(`${dir}/ro`) === "1",
    });
  }
  return devices;
}

/** Resolves symlinks of the parent directories the way the kernel reports backing files. */
async function canonical(file: string): Promise<string> {
  const abs = path.resolve(file);
  try {
    return await realpath(abs);
  } catch {
    // The file may be gone (deleted image still attached): resolve its directory instead.
    try {
      return path.join(await realpath(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Loop devices whose backing file is `image` (normally zero or one). */
export async function findLoopDevicesForFile(image: string): Promise<LoopDevice[]> {
  const target = await canonical(image);
  return (await listLoopDevices()).filter((d) => d.backingFile === target);
}

/** Loop devices whose backing file lies at or under directory `dir` (deleted files included). */
export async function findLoopDevicesUnder(dir: string): Promise<LoopDevice[]> {
  const root = await canonical(dir);
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return (await listLoopDevices()).filter((d) => d.backingFile === root || d.backingFile.startsWith(prefix));
}

/**
 * Attaches `image` to a free loop device and returns the device path ("/dev/loopN").
 * Throws LoopAlreadyAttachedError if the image already backs a loop device.
 */
export async function attachLoop(runner: CommandRunner, image: string, options: AttachLoopOptions = {}): Promise<string> {
  const file = await canonical(image);
  return attachLock.run(file, async () => {
    const existing = await findLoopDevicesForFile(file);
    if (existing[0]) throw new LoopAlreadyAttachedError(file, existing[0].device);
    const args = ["--find", "--show"];
    if (options.directIo ?? true) args.push("--direct-io=on");
    if (options.readOnly) args.push("--read-only");
    if (options.sectorSize !== undefined) args.push("--sector-size", String(options.sectorSize));
    args.push(file);
    const { stdout } = await runner.run("losetup", args);
    const device = stdout.trim();
    if (!/^\/dev\/loop\d+$/.test(device)) {
      throw new DaemonError("HOST_COMMAND_FAILED", `losetup returned an unexpected device name for ${file}: ${JSON.stringify(stdout)}`);
    }
    return device;
  });
}

/** true while `device` (/dev/loopN) still has a backing file (one sysfs read). */
export async function isLoopBound(device: string): Promise<boolean> {
  const backing = await readSysfs(`/sys/block/${path.basename(device)}/loop/backing_file`);
  return backing !== undefined && backing !== "";
}

/**
 * Detaches a loop device. If it is still open (e.g. a lazily unmounted filesystem still in
 * use), the kernel marks it autoclear and frees it when the last user closes it.
 * Detaching a device that is no longer attached is not an error.
 */
export async function detachLoop(runner: CommandRunner, device: string): Promise<void> {
  const name = path.basename(device);
  const backing = await readSysfs(`/sys/block/${name}/loop/backing_file`);
  if (backing === undefined || backing === "") return;
  try {
    await runner.run("losetup", ["--detach", device]);
  } catch (error) {
    // Lost a race with another detach (or autoclear): fine if the device is free now.
    const after = await readSysfs(`/sys/block/${name}/loop/backing_file`);
    if (after === undefined || after === "") return;
    throw error;
  }
}
