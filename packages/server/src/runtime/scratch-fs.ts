/**
 * The scratch filesystem of one sandbox: its image on a loop device, mounted at
 * `<runDir>/sandboxes/<id>/scratch`, holding the overlay's `upper/` and `work/`.
 */
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { attachLoop, detachLoop, findLoopDevicesForFile } from "../host/loop-device.js";
import { findMount, isBusyError, mount, umount } from "../host/mounts.js";
import type { CommandRunner } from "../host/run-command.js";

/** Mounts `image` at `mountPoint` and prepares upper/ (owned by sandbox root) and work/. */
export async function mountScratch(runner: CommandRunner, image: string, mountPoint: string, uidBase: number): Promise<{ upper: string; work: string }> {
  const device = await attachLoop(runner, image);
  try {
    await mkdir(mountPoint, { recursive: true });
    await mount(runner, "ext4", device, mountPoint, ["noatime", "nosuid", "nodev"]);
    try {
      const upper = `${mountPoint}/upper`;
      const work = `${mountPoint}/work`;
      await mkdir(upper, { mode: 0o755 });
      // The upper dir's owner and mode are what `/` looks like inside the sandbox.
      await chown(upper, uidBase, uidBase);
      await chmod(upper, 0o755);
      await mkdir(work, { mode: 0o700 });
      return { upper, work };
    } catch (err) {
      await umount(runner, mountPoint);
      throw err;
    }
  } catch (err) {
    await detachLoop(runner, device);
    throw err;
  }
}

/** Unmounts a filesystem, lazily if something still holds it. Not mounted is fine. */
export async function umountSafely(runner: CommandRunner, target: string): Promise<void> {
  try {
    await umount(runner, target);
  } catch (err) {
    if (!isBusyError(err)) throw err;
    await umount(runner, target, { lazy: true });
  }
}

/** Unmounts the scratch, detaches its loop device(s) and deletes the image. Idempotent. */
export async function releaseScratch(runner: CommandRunner, image: string, mountPoint: string): Promise<void> {
  // The mount names its loop device: detaching that one directly avoids scanning every loop
  // device on the host (hundreds when hundreds of sandboxes run).
  const device = (await findMount(mountPoint))?.source;
  await umountSafely(runner, mountPoint);
  if (device && /^\/dev\/loop\d+$/.test(device)) await detachLoop(runner, device);
  // Not mounted (a crash between losetup and mount): find the image's devices the slow way.
  else for (const dev of await findLoopDevicesForFile(image)) await detachLoop(runner, dev.device);
  await rm(image, { force: true });
}
