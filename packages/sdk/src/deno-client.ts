/**
 * The namespaces of Deno Sandbox's `Client` (`client.volumes`, `client.sandboxes`) on top of
 * Atoll's Client methods, with Deno's return shapes: `get` resolves to null for an unknown
 * volume, `list` to a paginated list, sandbox metadata with Dates.
 */
import type { Client, ListSandboxesFilter } from "./client.js";
import { InvalidArgumentError, NotFoundError, type SandboxInfo, checkDenoSlug } from "./contract/index.js";
import { type DenoSandboxOptions, type Region, type SnapshotInit, type VolumeInit, toCreateVolumeRequest } from "./deno-options.js";
import type { Sandbox } from "./sandbox.js";
import { type Snapshot, takeSnapshot } from "./snapshot.js";
import type { Volume } from "./volume.js";

/**
 * One page of a list (Deno Sandbox's `PaginatedList`). Atoll returns every item on the first
 * page, so `hasMore` is false and `getNextPage()` resolves to null.
 *
 * @example for await (const volume of await client.volumes.list()) console.log(volume.slug);
 */
export interface PaginatedList<T> {
  items: T[];
  hasMore: boolean;
  nextCursor: string | null;
  getNextPage(): Promise<PaginatedList<T> | null>;
  [Symbol.asyncIterator](): AsyncIterableIterator<T>;
}

function singlePage<T>(items: T[]): PaginatedList<T> {
  return {
    items,
    hasMore: false,
    nextCursor: null,
    getNextPage: () => Promise.resolve(null),
    async *[Symbol.asyncIterator]() {
      yield* items;
    },
  };
}

/** Deno's `search`: the items whose slug (Atoll's name) contains it, on one page. */
function searchPage<T extends { name: string }>(all: T[], search: string | undefined): PaginatedList<T> {
  return singlePage(search ? all.filter((item) => item.name.includes(search)) : all);
}

/** `get` of Deno's namespaces: null instead of a not-found error. */
async function orNull<T>(lookup: Promise<T>): Promise<T | null> {
  try {
    return await lookup;
  } catch (e) {
    if (e instanceof NotFoundError) return null;
    throw e;
  }
}

/**
 * Options of `client.volumes.list()`: `search` keeps volumes whose slug contains it.
 *
 * @example await client.volumes.list({ search: "cache" });
 */
export interface VolumeListOptions {
  search?: string;
  /** Accepted; every volume comes on the first page. */
  cursor?: string;
  /** Accepted; every volume comes on the first page. */
  limit?: number;
}

/**
 * `client.volumes`: Deno Sandbox's volume namespace.
 *
 * @example
 *   const client = new Client();
 *   const volume = await client.volumes.create({ slug: "my-cache", region: "ord", capacity: "1GiB" });
 *   console.log(await client.volumes.get("my-cache"));
 */
export class DenoVolumes {
  readonly #client: Client;

  /** @internal Use `client.volumes`. */
  constructor(client: Client) {
    this.#client = client;
  }

  /**
   * Creates a volume; `slug` becomes its name. `from` forks a snapshot (id or slug) or makes a
   * bootable volume from "builtin:debian-12".
   *
   * @example await client.volumes.create({ slug: "data", region: "ams", capacity: 2 ** 30, from: "my-snapshot" });
   */
  async create(init: VolumeInit): Promise<Volume> {
    return this.#client.createVolume(toCreateVolumeRequest(init));
  }

  /** The volume with this id or slug, or null if there is none. @example const v = await client.volumes.get("data"); */
  get(idOrSlug: string): Promise<Volume | null> {
    return orNull(this.#client.getVolume(idOrSlug));
  }

  /** Lists volumes (all on one page). @example const { items } = await client.volumes.list(); */
  async list(options: VolumeListOptions = {}): Promise<PaginatedList<Volume>> {
    return searchPage(await this.#client.listVolumes(), options.search);
  }

  /** Deletes a volume by id or slug. @example await client.volumes.delete("data"); */
  delete(idOrSlug: string): Promise<void> {
    return this.#client.deleteVolume(idOrSlug);
  }

  /**
   * Takes a snapshot of a volume (id or slug); `slug` becomes its name. Differs from Deno: Atoll
   * also snapshots a volume that sandboxes have mounted (docs/snapshots.md).
   *
   * @example const snap = await client.volumes.snapshot("data", { slug: "data-v1" });
   */
  async snapshot(idOrSlug: string, init: SnapshotInit): Promise<Snapshot> {
    if (init === null || typeof init !== "object") throw new InvalidArgumentError("volumes.snapshot takes (idOrSlug, { slug })");
    checkDenoSlug(init.slug);
    return takeSnapshot(this.#client.http, idOrSlug, { name: init.slug });
  }
}

/**
 * `client.snapshots`: Deno Sandbox's snapshot namespace.
 *
 * @example
 *   const client = new Client();
 *   const snap = await client.volumes.snapshot("data", { slug: "data-v1" });
 *   console.log((await client.snapshots.get("data-v1"))?.allocatedSize);
 *   await client.snapshots.delete(snap.id);
 */
export class DenoSnapshots {
  readonly #client: Client;

  /** @internal Use `client.snapshots`. */
  constructor(client: Client) {
    this.#client = client;
  }

  /** The snapshot with this id or slug, or null if there is none. @example const s = await client.snapshots.get("data-v1"); */
  get(idOrSlug: string): Promise<Snapshot | null> {
    return orNull(this.#client.getSnapshot(idOrSlug));
  }

  /** Lists snapshots, newest first (all on one page). @example const { items } = await client.snapshots.list({ search: "data" }); */
  async list(options: VolumeListOptions = {}): Promise<PaginatedList<Snapshot>> {
    return searchPage(await this.#client.listSnapshots(), options.search);
  }

  /** Deletes a snapshot by id or slug; volumes made from it are not affected. @example await client.snapshots.delete("data-v1"); */
  delete(idOrSlug: string): Promise<void> {
    return this.#client.deleteSnapshot(idOrSlug);
  }
}

/**
 * A sandbox as `client.sandboxes.list()` describes it (Deno Sandbox's `SandboxMetadata`).
 *
 * @example const running = (await client.sandboxes.list()).filter((s) => s.status === "running");
 */
export interface SandboxMetadata {
  id: string;
  createdAt: Date;
  stoppedAt: Date | null;
  /** Always "local": a self-hosted daemon has no regions. */
  region: Region;
  status: "running" | "stopped";
  labels: Record<string, string>;
}

function toMetadata(info: SandboxInfo): SandboxMetadata {
  return {
    id: info.id,
    createdAt: new Date(info.createdAt),
    stoppedAt: info.stoppedAt ? new Date(info.stoppedAt) : null,
    region: "local",
    status: info.state === "stopped" ? "stopped" : "running",
    labels: info.labels,
  };
}

/**
 * `client.sandboxes`: Deno Sandbox's sandbox namespace.
 *
 * @example
 *   await using sandbox = await new Client().sandboxes.create({ region: "ord" });
 *   const list = await new Client().sandboxes.list({ labels: { job: "ci" } });
 */
export class DenoSandboxes {
  readonly #client: Client;

  /** @internal Use `client.sandboxes`. */
  constructor(client: Client) {
    this.#client = client;
  }

  /** Creates a sandbox (either API style's options). @example await using sb = await client.sandboxes.create(); */
  create(options: DenoSandboxOptions = {}): Promise<Sandbox> {
    return this.#client.createSandbox(options);
  }

  /** Opens a session to a running sandbox. @example const sb = await client.sandboxes.connect(id); */
  connect(id: string, _options?: unknown): Promise<Sandbox> {
    return this.#client.connectSandbox(id);
  }

  /** Lists sandboxes, optionally those with all the given labels. @example await client.sandboxes.list({ labels: { a: "1" } }); */
  async list(options: Pick<ListSandboxesFilter, "labels"> = {}): Promise<SandboxMetadata[]> {
    return (await this.#client.listSandboxes({ labels: options.labels })).map(toMetadata);
  }
}
