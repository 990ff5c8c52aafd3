import { ConflictError, InvalidArgumentError, NotFoundError, mountSetProblem, type AccessMode, type VolumeAttachment } from "atoll/contract";
import type { Logger } from "pino";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import type { AttachmentRepo } from "../store/attachment-repo.js";
import type { VolumeRepo, VolumeRow } from "../store/volume-repo.js";
import type { MountSpec, StorageDriver } from "./drivers.js";
import { type CrashPointName, crashPoint } from "../crash-points.js";
import { nowIso } from "./ids.js";
import type { LiveSandboxes } from "./live-sandboxes.js";
import type { VolumeService } from "./volume-service.js";
import type { SnapshotRepo } from "../store/snapshot-repo.js";
import { decodeImageDefaults, type ImageDefaults } from "./image-defaults.js";

/** What a mount puts into a sandbox: a volume, or a snapshot (read-only, issue 14). */
export interface MountTarget {
  id: string;
  name: string;
  tenant: string;
  snapshot: boolean;
}

/** A requested mount whose volume or snapshot exists. */
export interface ResolvedMount {
  target: MountTarget;
  mountPath: string;
  accessMode: AccessMode;
}

/** The mount path that records a sandbox's root volume or snapshot (`root`, issue 14) among its attachments. */
export const ROOT_MOUNT_PATH = "/";

const volumeTarget = (v: VolumeRow): MountTarget => ({ id: v.id, name: v.name, tenant: v.tenant, snapshot: false });

/** Lock key of a sandbox (volume locks use the bare volume id). */
export const sandboxLockKey = (sandboxId: string): string => `sandbox:${sandboxId}`;

/**
 * Puts volumes into sandboxes and takes them out again. Each attachment row stands for exactly
 * one storage reference (StorageDriver.acquire), taken before the row is written and released
 * after the row is gone. Lock order: sandbox lock, then volume lock.
 */
export class AttachmentService {
  constructor(
    private readonly deps: {
      volumes: VolumeService;
      volumeRepo: VolumeRepo;
      attachments: AttachmentRepo;
      storage: StorageDriver;
      locks: KeyedMutex;
      live: LiveSandboxes;
      logger: Logger;
      /** Snapshots, which mount read-only like volumes (docs/snapshots.md); absent: volumes only. */
      snapshots?: Pick<SnapshotRepo, "find">;
    },
  ) {}

  /** Checks requested mounts of a new sandbox; VOLUME_NOT_FOUND or INVALID_ARGUMENT before anything exists. */
  resolve(tenant: string, requests: readonly { id: string; mountPath: string; accessMode: AccessMode }[]): ResolvedMount[] {
    const resolved = requests.map((r) => ({ target: this.mountable(tenant, r.id, r.accessMode), mountPath: r.mountPath, accessMode: r.accessMode }));
    const problem = mountSetProblem(resolved.map((m) => ({ volumeId: m.target.id, mountPath: m.mountPath })));
    if (problem) throw new InvalidArgumentError(`Invalid volumes: ${problem}`);
    return resolved;
  }

  /**
   * The root a new sandbox boots from (`root`): a bootable volume (read-write: no other sandbox
   * may have it) or a bootable snapshot (read-only, shared), by id or name. Recorded among the
   * sandbox's attachments at ROOT_MOUNT_PATH. VOLUME_NOT_FOUND, INVALID_ARGUMENT (not bootable) or
   * VOLUME_IN_USE before anything exists; the attachment re-checks the volume under its lock.
   */
  resolveRoot(tenant: string, idOrName: string): ResolvedMount {
    const volume = this.deps.volumeRepo.find(tenant, idOrName);
    const snap = volume ? undefined : this.deps.snapshots?.find(tenant, idOrName);
    if (!volume && !snap) {
      throw new NotFoundError(
        "VOLUME_NOT_FOUND",
        `No volume or snapshot with id or name "${idOrName}" to boot from. List them with Sandbox.listVolumes() and Sandbox.listSnapshots().`,
        {
          root: idOrName,
        },
      );
    }
    if (!(volume?.bootable ?? snap?.bootable)) {
      throw new InvalidArgumentError(
        `"${idOrName}" is not bootable: a sandbox boots from a volume made with { from: "builtin:debian-12" } (or from a bootable snapshot), or from a snapshot of such a volume.`,
        { root: idOrName },
      );
    }
    if (volume) this.assertBootableFree(volumeTarget(volume), ROOT_MOUNT_PATH);
    return volume
      ? { target: volumeTarget(volume), mountPath: ROOT_MOUNT_PATH, accessMode: "rw" }
      : { target: { id: snap!.id, name: snap!.name, tenant: snap!.tenant, snapshot: true }, mountPath: ROOT_MOUNT_PATH, accessMode: "ro" };
  }

  /**
   * The imported image's defaults (Env, WorkingDir, User; core/image-defaults.ts) of the volume or
   * snapshot a sandbox boots from, or of the root the running sandbox `sandboxId` booted from.
   */
  imageDefaults(tenant: string, root: MountTarget | { sandboxId: string }): ImageDefaults | undefined {
    const id = "sandboxId" in root ? this.deps.attachments.forSandbox(root.sandboxId).find((a) => a.mountPath === ROOT_MOUNT_PATH)?.volumeId : root.id;
    if (id === undefined) return undefined;
    const row = this.deps.volumeRepo.find(tenant, id) ?? this.deps.snapshots?.find(tenant, id);
    return row?.id === id ? decodeImageDefaults(row.imageConfig) : undefined;
  }

  /**
   * A volume booted read-write is its sandbox's alone: VOLUME_IN_USE when it is to be the root
   * (`mountPath` "/") and any sandbox has it, or to be mounted while it is some sandbox's root.
   */
  private assertBootableFree(t: MountTarget, mountPath: string): void {
    const current = this.deps.attachments.forVolume(t.id);
    const blocking = mountPath === ROOT_MOUNT_PATH ? current : current.filter((a) => a.mountPath === ROOT_MOUNT_PATH);
    if (blocking.length === 0) return;
    throw new ConflictError(
      "VOLUME_IN_USE",
      mountPath === ROOT_MOUNT_PATH
        ? `Volume "${t.name}" is attached to ${blocking.map((a) => a.sandboxId).join(", ")}; a sandbox boots from a volume read-write only while no other sandbox has it. Boot from a snapshot of it to share it.`
        : `Volume "${t.name}" is the root filesystem of ${blocking.map((a) => a.sandboxId).join(", ")}; snapshot it and mount the snapshot instead.`,
      { sandboxes: blocking.map((a) => a.sandboxId) },
    );
  }

  /**
   * The tenant's volume by id or name, else its snapshot by id or name (volumes and snapshots
   * have separate names; a volume wins). A snapshot mounts read-only only: "rw" is
   * INVALID_ARGUMENT, saying how to get a writable copy. Neither: VOLUME_NOT_FOUND.
   */
  private mountable(tenant: string, idOrName: string, accessMode?: AccessMode): MountTarget {
    const volume = this.deps.volumeRepo.find(tenant, idOrName);
    if (volume) return volumeTarget(volume);
    const snap = this.deps.snapshots?.find(tenant, idOrName);
    if (!snap) return volumeTarget(this.deps.volumes.find(tenant, idOrName));
    if (accessMode === "rw") {
      throw new InvalidArgumentError(
        `"${idOrName}" is a snapshot, and snapshots mount read-only: give { accessMode: "ro" }. To write to it, make a volume from it ` +
          `(Sandbox.createVolume({ name, sizeGb, from: "${snap.name}" })) and mount that.`,
        { snapshot: snap.id, accessMode },
      );
    }
    return { id: snap.id, name: snap.name, tenant: snap.tenant, snapshot: true };
  }

  /**
   * Takes a storage reference for every mount of a sandbox about to launch and records the
   * attachments. On failure releases what it took, so nothing is left behind.
   */
  async acquireForLaunch(sandboxId: string, mounts: readonly ResolvedMount[]): Promise<MountSpec[]> {
    const specs: MountSpec[] = [];
    const taken: ResolvedMount[] = [];
    try {
      for (const m of mounts) {
        const source = await this.takeReference(sandboxId, m);
        taken.push(m);
        specs.push({ source, target: m.mountPath, readOnly: m.accessMode === "ro" });
      }
      return specs;
    } catch (err) {
      for (const m of taken.reverse()) await this.dropReference(sandboxId, m.target.id);
      throw err;
    }
  }

  /** Hot attach to a running sandbox. */
  async attach(tenant: string, sandboxId: string, request: { id: string; mountPath: string; accessMode: AccessMode }): Promise<void> {
    await this.deps.locks.run(sandboxLockKey(sandboxId), async () => {
      const live = this.requireLive(sandboxId);
      const volume = this.mountable(tenant, request.id, request.accessMode);
      const current = this.deps.attachments.forSandbox(sandboxId);
      if (current.some((a) => a.volumeId === volume.id)) {
        throw new ConflictError(
          "VOLUME_ALREADY_ATTACHED",
          `Volume "${volume.name}" is already mounted in ${sandboxId}; a volume can be mounted once per sandbox.`,
          {
            volumeId: volume.id,
          },
        );
      }
      const mounted = current.filter((a) => a.mountPath !== ROOT_MOUNT_PATH); // every mount is under the root
      const problem = mountSetProblem([...mounted, { volumeId: volume.id, mountPath: request.mountPath }]);
      if (problem) throw new ConflictError("MOUNT_PATH_CONFLICT", `Cannot mount at ${request.mountPath}: ${problem}`, { mountPath: request.mountPath });
      const mount: ResolvedMount = { target: volume, mountPath: request.mountPath, accessMode: request.accessMode };
      const source = await this.takeReference(sandboxId, mount, "attach.after-host-mount");
      crashPoint("attach.after-row");
      try {
        await live.runtime.attachMount({ source, target: mount.mountPath, readOnly: mount.accessMode === "ro" });
      } catch (err) {
        await this.dropReference(sandboxId, volume.id);
        throw err;
      }
      crashPoint("attach.after-bind");
      this.deps.logger.info({ sandboxId, volumeId: volume.id, mountPath: mount.mountPath }, "volume attached");
    });
  }

  /**
   * Hot detach. Refuses with VOLUME_BUSY (listing the processes) while files on the volume are
   * open, unless `force`, which detaches lazily: open files keep working, new lookups fail.
   */
  async detach(tenant: string, sandboxId: string, volumeIdOrName: string, force: boolean): Promise<void> {
    await this.deps.locks.run(sandboxLockKey(sandboxId), async () => {
      const live = this.requireLive(sandboxId);
      await this.detachLocked(sandboxId, live.runtime, this.mountable(tenant, volumeIdOrName), force);
    });
  }

  /** Forced detach of a volume from every sandbox that has it (used by a forced delete). */
  async detachEverywhere(volumeId: string): Promise<void> {
    for (const a of this.deps.attachments.forVolume(volumeId)) {
      await this.deps.locks.run(sandboxLockKey(a.sandboxId), async () => {
        const live = this.deps.live.get(a.sandboxId);
        const volume = this.deps.volumeRepo.byId(volumeId);
        if (live && volume) await this.detachLocked(a.sandboxId, live.runtime, volumeTarget(volume), true);
      });
    }
  }

  /** After a sandbox's processes are gone: drop every reference it held. Caller holds the sandbox lock. */
  async releaseAll(sandboxId: string): Promise<void> {
    for (const a of this.deps.attachments.forSandbox(sandboxId)) await this.dropReference(sandboxId, a.volumeId);
  }

  forSandbox(sandboxId: string): VolumeAttachment[] {
    return this.deps.attachments.forSandbox(sandboxId);
  }

  private async detachLocked(
    sandboxId: string,
    runtime: { busyProcesses(t: string): Promise<unknown[]>; detachMount(t: string): Promise<void> },
    volume: MountTarget,
    force: boolean,
  ): Promise<void> {
    const attachment = this.deps.attachments.forSandbox(sandboxId).find((a) => a.volumeId === volume.id);
    if (!attachment) {
      throw new NotFoundError("VOLUME_NOT_ATTACHED", `Volume "${volume.name}" is not attached to ${sandboxId}.`, { volumeId: volume.id, sandboxId });
    }
    if (attachment.mountPath === ROOT_MOUNT_PATH) {
      throw new ConflictError("VOLUME_IN_USE", `"${volume.name}" is the root filesystem of ${sandboxId}; it is released when the sandbox ends.`, {
        volumeId: volume.id,
        sandboxId,
      });
    }
    if (!force) {
      const busy = await runtime.busyProcesses(attachment.mountPath);
      if (busy.length > 0) {
        throw new ConflictError("VOLUME_BUSY", `Files on ${attachment.mountPath} are open in ${sandboxId}; close them, or detach with { force: true }.`, {
          processes: busy,
          mountPath: attachment.mountPath,
        });
      }
    }
    await runtime.detachMount(attachment.mountPath);
    crashPoint("detach.after-unbind");
    await this.dropReference(sandboxId, volume.id, "detach.after-row");
    this.deps.logger.info({ sandboxId, volumeId: volume.id, force }, "volume detached");
  }

  private requireLive(sandboxId: string) {
    const live = this.deps.live.get(sandboxId);
    if (!live || live.stopping) {
      throw new ConflictError("SANDBOX_NOT_RUNNING", `Sandbox ${sandboxId} is not running; volumes attach only to running sandboxes.`, { sandboxId });
    }
    return live;
  }

  /** `afterMount`: the crash point between the host mount and the row (crash-points.ts). */
  private async takeReference(sandboxId: string, m: ResolvedMount, afterMount?: CrashPointName): Promise<string> {
    const t = m.target;
    // A snapshot's lock is the one its delete takes: it cannot go while it is being mounted.
    return this.deps.locks.run(t.id, async () => {
      // The volume or snapshot may have been deleted since it was resolved.
      if (t.snapshot ? !this.deps.snapshots?.find(t.tenant, t.id) : !this.deps.volumeRepo.find(t.tenant, t.id)) {
        throw new NotFoundError(t.snapshot ? "SNAPSHOT_NOT_FOUND" : "VOLUME_NOT_FOUND", `${t.snapshot ? "Snapshot" : "Volume"} "${t.name}" was deleted.`, {
          [t.snapshot ? "snapshot" : "volume"]: t.id,
        });
      }
      if (!t.snapshot) this.assertBootableFree(t, m.mountPath);
      const source = t.snapshot ? await this.deps.storage.acquireSnapshot(t.id) : await this.deps.storage.acquire(t.id);
      if (afterMount) crashPoint(afterMount);
      const at = nowIso();
      try {
        if (t.snapshot) this.deps.attachments.insertSnapshot({ sandboxId, snapshotId: t.id, mountPath: m.mountPath, attachedAt: at });
        else {
          this.deps.attachments.insert({ sandboxId, volumeId: t.id, mountPath: m.mountPath, accessMode: m.accessMode, attachedAt: at });
          this.deps.volumeRepo.touchAttached(t.id, at);
        }
      } catch (err) {
        await this.deps.storage.release(t.id);
        throw err;
      }
      return source;
    });
  }

  /** `volumeId`: a volume's or a snapshot's. `afterRow`: the crash point between the row's removal and the release (crash-points.ts). */
  private async dropReference(sandboxId: string, volumeId: string, afterRow?: CrashPointName): Promise<void> {
    await this.deps.locks.run(volumeId, async () => {
      this.deps.attachments.delete(sandboxId, volumeId);
      if (afterRow) crashPoint(afterRow);
      // lastAttachedAt is the last moment the volume was attached: the dashboard's "stale" mark counts from here.
      this.deps.volumeRepo.touchAttached(volumeId, nowIso());
      await this.deps.storage.release(volumeId);
    });
  }
}
