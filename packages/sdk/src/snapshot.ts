/**
 * `Snapshot`: a read-only, point-in-time copy of a volume (docs/snapshots.md), and the requests
 * behind `volume.snapshot()`, `Sandbox.listSnapshots()`, `Sandbox.getSnapshot()` and
 * `Sandbox.deleteSnapshot()`.
 */
import { type CreateSnapshotRequest, type SnapshotInfo, type SnapshotList, createSnapshotSchema, parseOrThrow } from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";

/**
 * A snapshot of a volume. It is independent of the volume: deleting the volume keeps it.
 * Fields are as of when the object was fetched; `refresh()` fetches them again.
 *
 * @example
 *   const volume = await Sandbox.getVolume("agent-cache");
 *   const snap = await volume.snapshot({ name: "before-upgrade" });
 *   console.log(snap.id, snap.allocatedBytes); // space only this snapshot holds
 *   await snap.delete();
 */
export class Snapshot implements SnapshotInfo {
  readonly id: string;
  readonly name: string;
  /** The volume it was taken of (which may have been deleted since). */
  readonly volumeId: string;
  readonly volumeName: string;
  /** The volume's size when the snapshot was taken, in GiB. */
  readonly sizeGb: number;
  readonly capacityBytes: number;
  /** ISO 8601: when it was taken. */
  readonly createdAt: string;
  /** Bytes no volume or other snapshot shares with it: what deleting it frees. */
  readonly allocatedBytes: number;
  /** Whether a sandbox can boot from it (`root`): taken of a bootable volume (docs/snapshots.md). */
  readonly bootable: boolean;
  readonly #http: HttpClient;

  /** @internal Use `volume.snapshot()`, `Sandbox.getSnapshot()` or a Client. */
  constructor(http: HttpClient, info: SnapshotInfo) {
    this.#http = http;
    this.id = info.id;
    this.name = info.name;
    this.volumeId = info.volumeId;
    this.volumeName = info.volumeName;
    this.sizeGb = info.sizeGb;
    this.capacityBytes = info.capacityBytes;
    this.createdAt = info.createdAt;
    this.allocatedBytes = info.allocatedBytes;
    this.bootable = info.bootable;
  }

  /** Deno Sandbox's name for `name`. @example (await client.snapshots.get("v1"))?.slug === "v1" */
  get slug(): string {
    return this.name;
  }

  /** Deno Sandbox's region: always "local" on a self-hosted daemon. @example snap.region === "local" */
  get region(): string {
    return "local";
  }

  /** Deno Sandbox's name for `allocatedBytes`: what only this snapshot holds. @example console.log(snap.allocatedSize); */
  get allocatedSize(): number {
    return this.allocatedBytes;
  }

  /**
   * Deno Sandbox's flattened size. Atoll gives the volume's capacity when the snapshot was taken
   * (`capacityBytes`): an upper bound of its filesystem's size, which Atoll does not record.
   *
   * @example console.log(snap.flattenedSize >= snap.allocatedSize);
   */
  get flattenedSize(): number {
    return this.capacityBytes;
  }

  /** Deno Sandbox's name for `bootable`. @example if (snap.isBootable) await Sandbox.create({ root: snap.id }); */
  get isBootable(): boolean {
    return this.bootable;
  }

  /** Deno Sandbox's `{ id, slug }` of the volume it was taken of. @example console.log(snap.volume.slug); */
  get volume(): { id: string; slug: string } {
    return { id: this.volumeId, slug: this.volumeName };
  }

  /** Fetches the snapshot again. @example const now = await snap.refresh(); */
  async refresh(): Promise<Snapshot> {
    return getSnapshot(this.#http, this.id);
  }

  /** Deletes the snapshot; volumes made from it are not affected. @example await snap.delete(); */
  async delete(): Promise<void> {
    await deleteSnapshot(this.#http, this.id);
  }

  /** The plain SnapshotInfo. */
  toJSON(): SnapshotInfo {
    const { id, name, volumeId, volumeName, sizeGb, capacityBytes, createdAt, allocatedBytes, bootable } = this;
    return { id, name, volumeId, volumeName, sizeGb, capacityBytes, createdAt, allocatedBytes, bootable };
  }
}

/** @internal Takes a snapshot of the volume `volumeIdOrName`. */
export async function takeSnapshot(http: HttpClient, volumeIdOrName: string, request: CreateSnapshotRequest): Promise<Snapshot> {
  parseOrThrow(createSnapshotSchema, request, "snapshot options");
  return new Snapshot(http, await http.request<SnapshotInfo>("POST", `/v1/volumes/${seg(volumeIdOrName)}/snapshots`, { body: request }));
}

/** @internal Every snapshot of the caller's tenant, newest first. */
export async function listSnapshots(http: HttpClient): Promise<Snapshot[]> {
  const { snapshots } = await http.request<SnapshotList>("GET", "/v1/snapshots");
  return snapshots.map((s) => new Snapshot(http, s));
}

/** @internal One snapshot by id or name. */
export async function getSnapshot(http: HttpClient, idOrName: string): Promise<Snapshot> {
  return new Snapshot(http, await http.request<SnapshotInfo>("GET", `/v1/snapshots/${seg(idOrName)}`));
}

/** @internal Deletes a snapshot by id or name. */
export async function deleteSnapshot(http: HttpClient, idOrName: string): Promise<void> {
  await http.request("DELETE", `/v1/snapshots/${seg(idOrName)}`);
}
