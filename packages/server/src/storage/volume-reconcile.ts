/**
 * The volume backend's start-up reconcile (LoopVolumeBackend.reconcile): makes the host agree
 * with the store after a clean stop or a crash.
 */
import { mkdir, readdir, realpath, rmdir } from "node:fs/promises";
import path from "node:path";
import type { DiskBudget } from "../host/disk-budget.js";
import { removeImage } from "../host/ext4-image.js";
import { detachLoop, findLoopDevicesUnder } from "../host/loop-device.js";
import { isMountPoint, mountsUnder, readMountInfo, umount, umountTree } from "../host/mounts.js";
import { thaw } from "../host/reflink.js";
import type { CommandRunner } from "../host/run-command.js";
import type { CowPool } from "./cow-pool.js";
import { IMAGE_SUFFIX } from "./image-files.js";
import { allocateInFull, checkImage } from "./image-upkeep.js";
import type { StorageLogger } from "./loop-volume-backend.js";
import { reconcileSnapshotImages, snapshotImage } from "./snapshot-images.js";

/** What the reconcile uses of the backend. */
export interface ReconcileTarget {
  runner: CommandRunner;
  log: StorageLogger;
  disk: Pick<DiskBudget, "withVolume">;
  /** The backend's record of mounted volumes: emptied, then given the volumes adopted sandboxes hold. */
  acquired: Map<string, { refs: number; device: string; mountPoint: string; readOnly?: boolean }>;
  /** `<stateDir>/volumes`: images made before the pool. */
  imagesDir: string;
  /** `<runDir>/volumes`: mount points. */
  mountsDir: string;
  pool(): Promise<CowPool>;
  measureShared(volumeId: string, image: string): Promise<void>;
  imagePath(volumeId: string): string;
  mountPath(volumeId: string): string;
}

/**
 * Registers the volumes in `inUse` (sandboxes a previous daemon run left running, issue 13)
 * that are still mounted on their loop device, with that many references; returns their images.
 */
async function adoptMounted(
  b: ReconcileTarget,
  dirs: readonly string[],
  inUse: ReadonlyMap<string, number>,
  imageOf: (id: string) => string,
  isSnapshot: (id: string) => boolean,
): Promise<Set<string>> {
  const kept = new Set<string>();
  if (inUse.size === 0) return kept;
  const loops = (await Promise.all(dirs.map((d) => findLoopDevicesUnder(d)))).flat();
  for (const [volumeId, refs] of inUse) {
    const image = imageOf(volumeId);
    const loop = loops.find((l) => l.backingFile === image);
    const mountPoint = b.mountPath(volumeId);
    if (!loop || refs < 1 || !(await isMountPoint(mountPoint))) {
      b.log.warn({ volumeId }, "a volume of an adopted sandbox is not mounted any more");
      continue;
    }
    b.acquired.set(volumeId, { refs, device: loop.device, mountPoint, ...(isSnapshot(volumeId) ? { readOnly: true } : {}) });
    kept.add(image);
  }
  return kept;
}

/** Unmounts what is under the mounts directory except the volumes adoptMounted kept. */
async function umountStray(b: ReconcileTarget): Promise<string[]> {
  const dir = await realpath(b.mountsDir);
  const keep = [...b.acquired.keys()].map((id) => path.join(dir, id));
  const done: string[] = [];
  for (const m of mountsUnder(await readMountInfo(), dir)) {
    if (keep.some((k) => m.mountPoint === k || m.mountPoint.startsWith(`${k}/`))) continue;
    await umount(b.runner, m.mountPoint, { lazy: true });
    done.push(m.mountPoint);
  }
  return done;
}

/**
 * At daemon start, after the runtime removed sandbox mounts: thaws and unmounts everything
 * under `<runDir>/volumes` but the volumes adopted sandboxes hold (`inUse`, kept mounted with
 * that many references; a daemon killed mid-snapshot leaves a volume frozen), detaches loop
 * devices backed by images, checks every known image with `e2fsck -p` (falling back to `-fy`
 * if preen gives up), and deletes images of unknown ids, half-made snapshots and (when
 * `knownSnapshots` is given) images of unknown snapshots. `inUse` may name snapshots of
 * `knownSnapshots` (mounted read-only): they stay mounted too.
 */
export async function reconcileVolumes(
  b: ReconcileTarget,
  known: ReadonlySet<string>,
  inUse: ReadonlyMap<string, number>,
  knownSnapshots?: ReadonlySet<string>,
): Promise<void> {
  const cow = await b.pool();
  if (b.acquired.size > 0) {
    b.log.warn({ volumes: [...b.acquired.keys()] }, "reconcile drops volumes this backend had mounted");
    b.acquired.clear();
  }
  await mkdir(b.mountsDir, { recursive: true, mode: 0o700 });
  for (const m of mountsUnder(await readMountInfo(), await realpath(b.mountsDir))) {
    if (await thaw(b.runner, m.mountPoint)) b.log.warn({ mountPoint: m.mountPoint }, "thawed a volume left frozen");
  }
  const dirs = [...new Set([cow.volumesDir, b.imagesDir, cow.snapshotsDir])];
  await mkdir(b.imagesDir, { recursive: true, mode: 0o700 });
  // Volumes of sandboxes a previous daemon run left running: their mount and loop device stay.
  // A snapshot mounted read-only in an adopted sandbox (issue 14) is held like a volume.
  const isSnapshot = (id: string) => knownSnapshots?.has(id) === true;
  const imageOf = (id: string) => (isSnapshot(id) ? snapshotImage(cow.snapshotsDir, id) : b.imagePath(id));
  const keptImages = await adoptMounted(b, dirs, inUse, imageOf, isSnapshot);
  const unmounted = keptImages.size === 0 ? await umountTree(b.runner, b.mountsDir, { lazy: true }) : await umountStray(b);
  if (unmounted.length > 0) b.log.warn({ mounts: unmounted }, "unmounted leftover volume mounts");
  const leftovers = async () => (await Promise.all(dirs.map((d) => findLoopDevicesUnder(d)))).flat();
  for (const loop of await leftovers()) {
    if (keptImages.has(loop.backingFile)) continue;
    b.log.warn({ device: loop.device, image: loop.backingFile }, "detaching leftover loop device");
    await detachLoop(b.runner, loop.device);
  }
  // A loop device still attached now is held by someone (e.g. a bind elsewhere): the
  // filesystem is live, so checking or deleting its image would be unsafe.
  const stillAttached = new Set((await leftovers()).map((d) => d.backingFile));

  const seen = new Set<string>();
  for (const dir of new Set([cow.volumesDir, b.imagesDir])) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(dir, entry.name);
      const id = entry.name.endsWith(IMAGE_SUFFIX) ? entry.name.slice(0, -IMAGE_SUFFIX.length) : undefined;
      if (id !== undefined && keptImages.has(file) && known.has(id)) {
        seen.add(id); // mounted and in use by an adopted sandbox: checked at its next mount
        continue;
      }
      if (stillAttached.has(file)) {
        b.log.error({ file }, "image still attached to a busy loop device; not checked");
        if (id !== undefined) seen.add(id);
        continue;
      }
      if (id === undefined || !known.has(id) || seen.has(id)) {
        b.log.warn({ file }, "removing image of an unknown volume");
        await removeImage(file);
        continue;
      }
      seen.add(id);
      await checkImage(b.runner, b.log, id, file);
      await allocateInFull({ log: b.log, disk: b.disk, runner: b.runner }, id, file);
      if (dir === cow.volumesDir) await b.measureShared(id, file);
    }
  }
  for (const id of known) {
    if (!seen.has(id)) b.log.error({ volumeId: id }, "known volume has no image");
  }
  await reconcileSnapshotImages(b.log, cow.snapshotsDir, knownSnapshots);
  for (const entry of await readdir(b.mountsDir, { withFileTypes: true })) {
    if (entry.isDirectory() && !b.acquired.has(entry.name)) await rmdir(path.join(b.mountsDir, entry.name)).catch(() => undefined);
  }
}
