/** `Volume`: a persistent volume as the SDK hands it out, with `refresh()` and `delete()`. */
import type { CreateSnapshotRequest, VolumeAttachment, VolumeInfo } from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";
import { VolumeFs } from "./volume-fs.js";
import { type Snapshot, takeSnapshot } from "./snapshot.js";
import { type ExportVolumeOptions, exportVolume } from "./volume-backup.js";

/**
 * Options of `volume.delete()` and `Sandbox.deleteVolume()`.
 *
 * @example await Sandbox.deleteVolume("agent-cache", { force: true });
 */
export interface DeleteVolumeOptions {
  /** Detach it from every sandbox first instead of failing with VOLUME_IN_USE. */
  force?: boolean;
}

/**
 * A persistent volume. Fields are a snapshot taken when the object was fetched; `refresh()`
 * returns a new, current snapshot.
 *
 * @example
 *   const volume = await Sandbox.createVolume({ name: "agent-cache", sizeGb: 5 });
 *   console.log(volume.id, volume.capacityBytes);
 *   const now = await volume.refresh();           // usedBytes, attachments, … as of now
 *   await volume.delete();
 */
export class Volume implements VolumeInfo {
  readonly id: string;
  readonly name: string;
  /** Requested size in GiB. */
  readonly sizeGb: number;
  readonly capacityBytes: number;
  readonly usedBytes: number;
  /**
   * Files, directories and symlinks on the volume now (ext4's 11 reserved inodes included).
   *
   * @example if (v.usedInodes >= v.inodeCapacity) console.log(`${v.name} is out of inodes: remove files`);
   */
  readonly usedInodes: number;
  /** How many of them the volume can hold: 262,144 for 1 GiB (docs/volumes.md). */
  readonly inodeCapacity: number;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, or null if it was never mounted. */
  readonly lastAttachedAt: string | null;
  /** Sandboxes that have it mounted. */
  readonly attachments: VolumeAttachment[];
  /**
   * A sandbox can boot from it (`Sandbox.create({ root: volume.id })`): made `from: "builtin:debian-12"` or from a bootable snapshot.
   *
   * @example const v = await Sandbox.createVolume({ name: "my-image", sizeGb: 2, from: "builtin:debian-12" }); v.bootable // true
   */
  readonly bootable: boolean;
  /** The snapshot it was made `from`, while that snapshot exists; null otherwise. */
  readonly fromSnapshot: { id: string; name: string } | null;
  readonly #http: HttpClient;
  #fs: VolumeFs | undefined;

  /** @internal Use `Sandbox.createVolume()`, `Sandbox.getVolume()` or a Client. */
  constructor(http: HttpClient, info: VolumeInfo) {
    this.#http = http;
    this.id = info.id;
    this.name = info.name;
    this.sizeGb = info.sizeGb;
    this.capacityBytes = info.capacityBytes;
    this.usedBytes = info.usedBytes;
    this.usedInodes = info.usedInodes;
    this.inodeCapacity = info.inodeCapacity;
    this.createdAt = info.createdAt;
    this.lastAttachedAt = info.lastAttachedAt;
    this.attachments = info.attachments ?? [];
    this.bootable = info.bootable ?? false;
    this.fromSnapshot = info.fromSnapshot ?? null;
  }

  /**
   * The volume's files, whether or not a sandbox has it mounted (docs/files.md).
   *
   * @example await volume.fs.writeTextFile("seed.txt", "42"); await volume.fs.upload("./models", "models");
   */
  get fs(): VolumeFs {
    this.#fs ??= new VolumeFs(this.#http, this.id);
    return this.#fs;
  }

  /** Deno Sandbox's name for `name`. @example (await client.volumes.get("cache"))?.slug === "cache" */
  get slug(): string {
    return this.name;
  }

  /** Deno Sandbox's name for `capacityBytes`. @example console.log(volume.capacity); // bytes */
  get capacity(): number {
    return this.capacityBytes;
  }

  /** Deno Sandbox's region: always "local" on a self-hosted daemon. @example volume.region === "local" */
  get region(): string {
    return "local";
  }

  /** Deno Sandbox's name for `bootable`. @example if (volume.isBootable) await Sandbox.create({ root: volume.slug }); */
  get isBootable(): boolean {
    return this.bootable;
  }

  /**
   * Deno Sandbox's allocated size: `usedBytes`, which for a volume made from a snapshot counts
   * only what it wrote, not the data it shares with the snapshot.
   *
   * @example console.log(volume.estimatedAllocatedSize);
   */
  get estimatedAllocatedSize(): number {
    return this.usedBytes;
  }

  /**
   * Deno Sandbox's flattened size. Atoll returns `usedBytes` here too: true for a volume not made
   * from a snapshot, a lower bound for one that was (the shared data is not reported).
   *
   * @example console.log(volume.estimatedFlattenedSize);
   */
  get estimatedFlattenedSize(): number {
    return this.usedBytes;
  }

  /** Deno Sandbox's `{ id, slug }` of the snapshot it was made `from`, or null. @example console.log(volume.baseSnapshot?.slug); */
  get baseSnapshot(): { id: string; slug: string } | null {
    const base = this.fromSnapshot;
    return base ? { id: base.id, slug: base.name } : null;
  }

  /** Fetches the volume again. @example const v2 = await volume.refresh(); */
  async refresh(): Promise<Volume> {
    return new Volume(this.#http, await this.#http.request<VolumeInfo>("GET", `/v1/volumes/${seg(this.id)}`));
  }

  /**
   * Deletes the volume and its data. Fails with VOLUME_IN_USE while mounted unless `force`.
   *
   * @example await volume.delete({ force: true });
   */
  async delete(options: DeleteVolumeOptions = {}): Promise<void> {
    await this.#http.request("DELETE", `/v1/volumes/${seg(this.id)}`, { query: { force: options.force ? "true" : undefined } });
  }

  /**
   * Takes a read-only, point-in-time snapshot of the volume, also while sandboxes have it mounted
   * and write to it (what they had synced is in it; writers pause for milliseconds). The snapshot
   * is independent: deleting the volume keeps it. Errors: SNAPSHOT_NAME_TAKEN, QUOTA_EXCEEDED.
   *
   * @example const snap = await volume.snapshot({ name: "nightly-2026-12-03" });
   */
  snapshot(request: CreateSnapshotRequest): Promise<Snapshot> {
    return takeSnapshot(this.#http, this.id, request);
  }

  /**
   * Rolls the volume back to a snapshot (id or name): its data becomes the snapshot's. The volume
   * must not be attached (VOLUME_IN_USE); the snapshot is kept. Returns the volume as it is now.
   *
   * @example await (await Sandbox.getVolume("db")).restore("before-migration");
   */
  async restore(snapshotIdOrName: string): Promise<Volume> {
    const body = { snapshot: snapshotIdOrName };
    return new Volume(this.#http, await this.#http.request<VolumeInfo>("POST", `/v1/volumes/${seg(this.id)}/restore`, { body }));
  }

  /**
   * The volume's files as a compressed, checksummed archive stream (owners, modes, links, sparse
   * files, xattrs and ACLs kept): `Sandbox.importVolume` makes a new volume from it, here or on
   * another host. Without `snapshot` it is the volume at one point in time (a temporary snapshot),
   * also while sandboxes write to it. Errors: SNAPSHOT_NOT_FOUND, INVALID_ARGUMENT (a snapshot of another volume).
   *
   * @example
   *   import { createWriteStream } from "node:fs";
   *   import { Writable } from "node:stream";
   *   const archive = await volume.export();
   *   await archive.pipeTo(Writable.toWeb(createWriteStream("cache.atollvol")));
   */
  export(options: ExportVolumeOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return exportVolume(this.#http, this.id, options);
  }

  /** The plain VolumeInfo. */
  toJSON(): VolumeInfo {
    return {
      id: this.id,
      name: this.name,
      sizeGb: this.sizeGb,
      capacityBytes: this.capacityBytes,
      usedBytes: this.usedBytes,
      usedInodes: this.usedInodes,
      inodeCapacity: this.inodeCapacity,
      createdAt: this.createdAt,
      lastAttachedAt: this.lastAttachedAt,
      attachments: this.attachments,
      bootable: this.bootable,
      fromSnapshot: this.fromSnapshot,
    };
  }
}
