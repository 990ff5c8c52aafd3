/**
 * The namespaces of Deno Sandbox's `Client` (`client.volumes`, `client.sandboxes`) on top of
 * Atoll's Client methods, with Deno's return shapes: `get` resolves to null for an unknown
 * volume, `list` to a paginated list, sandbox metadata with Dates.
 */
import type { Client, ListSandboxesFilter } from "./client.js";
import { NotFoundError, type SandboxInfo } from "./contract/index.js";
import { type DenoSandboxOptions, type Region, type VolumeInit, toCreateVolumeRequest } from "./deno-options.js";
import type { Sandbox } from "./sandbox.js";
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

  /** Creates a volume; `slug` becomes its name. @example await client.volumes.create({ slug: "data", region: "ams", capacity: 2 ** 30 }); */
  async create(init: VolumeInit): Promise<Volume> {
    return this.#client.createVolume(toCreateVolumeRequest(init));
  }

  /** The volume with this id or slug, or null if there is none. @example const v = await client.volumes.get("data"); */
  async get(idOrSlug: string): Promise<Volume | null> {
    try {
      return await this.#client.getVolume(idOrSlug);
    } catch (e) {
      if (e instanceof NotFoundError) return null;
      throw e;
    }
  }

  /** Lists volumes (all on one page). @example const { items } = await client.volumes.list(); */
  async list(options: VolumeListOptions = {}): Promise<PaginatedList<Volume>> {
    const all = await this.#client.listVolumes();
    const search = options.search;
    return singlePage(search ? all.filter((v) => v.name.includes(search)) : all);
  }

  /** Deletes a volume by id or slug. @example await client.volumes.delete("data"); */
  delete(idOrSlug: string): Promise<void> {
    return this.#client.deleteVolume(idOrSlug);
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
