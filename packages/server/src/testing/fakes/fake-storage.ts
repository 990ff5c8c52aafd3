/**
 * An in-memory StorageDriver for the fast test tier. It keeps the contract of the loop-device
 * backend (storage/loop-volume-backend.ts), proven by the same contract suite
 * (testing/contracts/storage-contract.ts): the same error classes and codes, reference-counted
 * acquire/release, delete refused while acquired, a volume's files surviving release and
 * re-acquire, usage that grows with what was written, capacity checked against the "host".
 * Nothing touches the host: a volume's files live in a Map, and `acquire` returns a path that
 * exists nowhere (`/fake-storage/<id>`), readable and writable only through `writeFile`/`readFile`.
 *
 * @example
 *   const storage = new FakeStorage({ hostBytes: 100 * 2 ** 30 });
 *   await storage.create("vol_a", 2 ** 30);
 *   const at = await storage.acquire("vol_a");
 *   storage.writeFile(at, "notes.txt", Buffer.from("hi"));
 */
import { CapacityError } from "atoll/contract";
import type { SnapshotUsage, StorageDriver, VolumeUsage } from "../../core/drivers.js";
import { KeyedMutex } from "../../host/keyed-mutex.js";
import { SnapshotBackingMissingError } from "../../storage/snapshot-images.js";
import {
  SnapshotAcquiredError,
  SnapshotBackingExistsError,
  VolumeAcquiredError,
  VolumeBackingExistsError,
  VolumeBackingMissingError,
} from "../../storage/storage-errors.js";

/** Same alphabet the loop backend accepts (volume ids become file names there). */
const VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const ROOT = "/fake-storage/";
/** What a fresh ext4 volume already uses, roughly: the root directory, lost+found, the journal's share. */
const EMPTY_FS_BYTES = 64 * 1024;
const EMPTY_FS_INODES = 11;
const BLOCK = 4096;
/** One inode per 16 KiB, as inode-sizing.ts gives small volumes (never fewer than 1024). */
const inodesFor = (capacityBytes: number) => Math.max(1024, Math.floor(capacityBytes / 16384));

interface FakeVolume {
  capacityBytes: number;
  refs: number;
  /** Path relative to the volume's root → contents. */
  files: Map<string, Uint8Array>;
}

export interface FakeStorageOptions {
  /** Size of the pretend host disk; volumes are allocated in full (default 1 TiB). */
  hostBytes?: number;
}

export class FakeStorage implements StorageDriver {
  private readonly volumes = new Map<string, FakeVolume>();
  /**
   * Snapshots: a copy of the volume's map whose contents are the same arrays (shared, like
   * cloned extents); a write through a volume replaces an array, so it "un-shares" that file.
   */
  private readonly snapshots = new Map<string, { capacityBytes: number; files: Map<string, Uint8Array>; refs: number }>();
  private readonly locks = new KeyedMutex();
  private readonly hostBytes: number;
  /** Every call, in order ("acquire vol_a"): tests assert on what core asked of the driver. */
  readonly calls: string[] = [];

  constructor(options: FakeStorageOptions = {}) {
    this.hostBytes = options.hostBytes ?? 2 ** 40;
  }

  async create(volumeId: string, capacityBytes: number): Promise<void> {
    assertVolumeId(volumeId);
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) {
      throw new RangeError(`volume capacity must be a positive integer of bytes, got ${capacityBytes}`);
    }
    this.calls.push(`create ${volumeId}`);
    await this.locks.run(volumeId, async () => {
      if (this.volumes.has(volumeId)) throw new VolumeBackingExistsError(volumeId);
      const free = await this.freeBytes();
      if (capacityBytes > free) {
        // What the real backend's disk budget answers (host/disk-budget.ts).
        throw new CapacityError("INSUFFICIENT_STORAGE", `A volume of ${capacityBytes} bytes does not fit: the host has ${free} bytes free.`, {
          requestedBytes: capacityBytes,
          availableBytes: free,
        });
      }
      this.volumes.set(volumeId, { capacityBytes, refs: 0, files: new Map() });
    });
  }

  /** A bootable volume: the "tree" is one file naming it, `.tree` (nothing is read from the host). */
  async createFromTree(volumeId: string, capacityBytes: number, tree: string, _what: string): Promise<void> {
    await this.create(volumeId, capacityBytes);
    this.volumes.get(volumeId)!.files.set(".tree", new TextEncoder().encode(tree));
  }

  async delete(volumeId: string): Promise<void> {
    assertVolumeId(volumeId);
    this.calls.push(`delete ${volumeId}`);
    await this.locks.run(volumeId, async () => {
      const v = this.volumes.get(volumeId);
      if (v && v.refs > 0) throw new VolumeAcquiredError(volumeId, v.refs);
      this.volumes.delete(volumeId);
    });
  }

  async acquire(volumeId: string): Promise<string> {
    assertVolumeId(volumeId);
    this.calls.push(`acquire ${volumeId}`);
    return this.locks.run(volumeId, async () => {
      const v = this.volumes.get(volumeId);
      if (!v) throw new VolumeBackingMissingError(volumeId);
      v.refs += 1;
      return ROOT + volumeId;
    });
  }

  /** A snapshot held read-only (its path, like a volume's, exists nowhere). */
  async acquireSnapshot(snapshotId: string): Promise<string> {
    assertVolumeId(snapshotId);
    this.calls.push(`acquireSnapshot ${snapshotId}`);
    return this.locks.run(snapshotId, async () => {
      const snap = this.snapshots.get(snapshotId);
      if (!snap) throw new SnapshotBackingMissingError(snapshotId);
      snap.refs += 1;
      return ROOT + snapshotId;
    });
  }

  async release(volumeId: string): Promise<void> {
    assertVolumeId(volumeId);
    this.calls.push(`release ${volumeId}`);
    await this.locks.run(volumeId, async () => {
      const v = this.volumes.get(volumeId) ?? this.snapshots.get(volumeId);
      if (v && v.refs > 0) v.refs -= 1; // like the loop backend: a release of what is not acquired is a no-op
    });
  }

  async usage(volumeId: string): Promise<VolumeUsage> {
    const v = this.volumes.get(volumeId);
    if (!v) throw new VolumeBackingMissingError(volumeId);
    let used = EMPTY_FS_BYTES;
    for (const data of v.files.values()) used += Math.ceil(data.byteLength / BLOCK) * BLOCK;
    const inSnapshots = new Set<Uint8Array>();
    for (const snap of this.snapshots.values()) for (const d of snap.files.values()) inSnapshots.add(d);
    let shared = 0;
    for (const d of v.files.values()) if (inSnapshots.has(d)) shared += Math.ceil(d.byteLength / BLOCK) * BLOCK;
    const usage = { usedBytes: used, capacityBytes: v.capacityBytes, usedInodes: EMPTY_FS_INODES + v.files.size, inodeCapacity: inodesFor(v.capacityBytes) };
    return shared > 0 ? { ...usage, sharedBytes: shared } : usage;
  }

  async freeBytes(): Promise<number> {
    let taken = 0;
    for (const v of this.volumes.values()) taken += v.capacityBytes;
    return Math.max(0, this.hostBytes - taken);
  }

  /** Volumes are allocated in full when made, as the loop backend's are since issue 10. */
  async unallocatedBytes(_volumeId: string): Promise<number> {
    return 0;
  }

  /** Daemon start: volumes not in `known` go (snapshots too, given `knownSnapshots`); those in `inUse` stay held that many times. */
  async reconcile(known: ReadonlySet<string>, inUse: ReadonlyMap<string, number> = new Map(), knownSnapshots?: ReadonlySet<string>): Promise<void> {
    for (const [id, v] of this.volumes) {
      if (known.has(id)) v.refs = inUse.get(id) ?? 0;
      else this.volumes.delete(id);
    }
    for (const [id, snap] of this.snapshots) {
      if (knownSnapshots && !knownSnapshots.has(id)) this.snapshots.delete(id);
      else snap.refs = inUse.get(id) ?? 0;
    }
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<void> {
    assertVolumeId(volumeId);
    assertVolumeId(snapshotId);
    this.calls.push(`snapshot ${volumeId} ${snapshotId}`);
    await this.locks.run(volumeId, async () => {
      const v = this.volumes.get(volumeId);
      if (!v) throw new VolumeBackingMissingError(volumeId);
      if (this.snapshots.has(snapshotId)) throw new SnapshotBackingExistsError(snapshotId);
      this.snapshots.set(snapshotId, { capacityBytes: v.capacityBytes, files: new Map(v.files), refs: 0 });
    });
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    assertVolumeId(snapshotId);
    this.calls.push(`deleteSnapshot ${snapshotId}`);
    await this.locks.run(snapshotId, async () => {
      const snap = this.snapshots.get(snapshotId);
      if (snap && snap.refs > 0) throw new SnapshotAcquiredError(snapshotId, snap.refs);
      this.snapshots.delete(snapshotId);
    });
  }

  async createFrom(volumeId: string, snapshotId: string, capacityBytes: number): Promise<void> {
    assertVolumeId(volumeId);
    this.calls.push(`createFrom ${volumeId} ${snapshotId}`);
    await this.locks.run(volumeId, async () => {
      if (this.volumes.has(volumeId)) throw new VolumeBackingExistsError(volumeId);
      const snap = this.snapshots.get(snapshotId);
      if (!snap) throw new SnapshotBackingMissingError(snapshotId);
      if (!Number.isSafeInteger(capacityBytes) || capacityBytes < snap.capacityBytes) {
        throw new RangeError(`a volume made from snapshot ${snapshotId} needs at least ${snap.capacityBytes} bytes, got ${capacityBytes}`);
      }
      this.volumes.set(volumeId, { capacityBytes, refs: 0, files: new Map(snap.files) });
    });
  }

  async restore(volumeId: string, snapshotId: string): Promise<void> {
    assertVolumeId(volumeId);
    this.calls.push(`restore ${volumeId} ${snapshotId}`);
    await this.locks.run(volumeId, async () => {
      const v = this.volumes.get(volumeId);
      if (!v) throw new VolumeBackingMissingError(volumeId);
      if (v.refs > 0) throw new VolumeAcquiredError(volumeId, v.refs);
      const snap = this.snapshots.get(snapshotId);
      if (!snap) throw new SnapshotBackingMissingError(snapshotId);
      if (snap.capacityBytes > v.capacityBytes) throw new RangeError(`snapshot ${snapshotId} is larger than volume ${volumeId}`);
      v.files = new Map(snap.files);
    });
  }

  async snapshotUsage(snapshotId: string): Promise<SnapshotUsage> {
    const snap = this.snapshots.get(snapshotId);
    if (!snap) throw new SnapshotBackingMissingError(snapshotId);
    const elsewhere = new Set<Uint8Array>();
    for (const v of this.volumes.values()) for (const d of v.files.values()) elsewhere.add(d);
    for (const [id, other] of this.snapshots) if (id !== snapshotId) for (const d of other.files.values()) elsewhere.add(d);
    let own = 0;
    for (const d of snap.files.values()) if (!elsewhere.has(d)) own += Math.ceil(d.byteLength / BLOCK) * BLOCK;
    return { capacityBytes: snap.capacityBytes, allocatedBytes: own };
  }

  /** Number of holders of a volume (0 when not acquired), as LoopVolumeBackend.references. */
  references(volumeId: string): number {
    return (this.volumes.get(volumeId) ?? this.snapshots.get(volumeId))?.refs ?? 0;
  }

  /** Ids of the volumes that have a backing store. */
  ids(): string[] {
    return [...this.volumes.keys()];
  }

  /**
   * Writes a file through an acquired volume's path (what a sandbox would do through its mount).
   * ENOSPC (as an errno error) when it does not fit, ENOENT when `source` is not mounted.
   */
  writeFile(source: string, relPath: string, data: Uint8Array): void {
    if (source.startsWith(ROOT) && (this.snapshots.get(source.slice(ROOT.length))?.refs ?? 0) > 0) throw errno("EROFS", source);
    const v = this.mounted(source);
    const before = v.files.get(relPath)?.byteLength ?? 0;
    const used = EMPTY_FS_BYTES + [...v.files.values()].reduce((n, d) => n + Math.ceil(d.byteLength / BLOCK) * BLOCK, 0);
    if (used - Math.ceil(before / BLOCK) * BLOCK + Math.ceil(data.byteLength / BLOCK) * BLOCK > v.capacityBytes) throw errno("ENOSPC", source);
    v.files.set(relPath, Uint8Array.from(data));
  }

  /** Reads a file through an acquired volume's path; undefined when there is none. */
  readFile(source: string, relPath: string): Uint8Array | undefined {
    return this.mounted(source).files.get(relPath);
  }

  /** An acquired volume, or an acquired snapshot (read-only: writeFile refuses it first). */
  private mounted(source: string): Pick<FakeVolume, "files" | "refs" | "capacityBytes"> {
    const id = source.slice(ROOT.length);
    const v = source.startsWith(ROOT) ? (this.volumes.get(id) ?? this.snapshots.get(id)) : undefined;
    if (!v || v.refs === 0) throw errno("ENOENT", source);
    return v;
  }
}

function assertVolumeId(volumeId: string): void {
  if (!VOLUME_ID.test(volumeId)) throw new RangeError(`invalid volume id ${JSON.stringify(volumeId)}`);
}

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}
