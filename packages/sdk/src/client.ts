/**
 * `Client`: every daemon operation bound to one URL and token. `Sandbox`'s static methods use
 * a shared default Client (ATOLL_URL / ATOLL_TOKEN / the local token file).
 */
import { AdminClient } from "./admin-client.js";
import type { ConnectionOptions } from "./connection.js";
import {
  type CreateVolumeRequest,
  type ImportImageRequest,
  type SandboxInfo,
  type SandboxList,
  SandboxNotRunningError,
  type SandboxState,
  type VolumeInfo,
  type VolumeList,
  createSandboxSchema,
  createVolumeSchema,
  parseOrThrow,
  sandboxStoppedMessage,
} from "./contract/index.js";
import { DenoSandboxes, DenoSnapshots, DenoVolumes } from "./deno-client.js";
import { type DenoSandboxOptions, toCreateSandboxRequest } from "./deno-options.js";
import { HttpClient, seg } from "./http-client.js";
import { Sandbox } from "./sandbox.js";
import { Session } from "./session.js";
import { type DeleteVolumeOptions, Volume } from "./volume.js";
import { type Snapshot, deleteSnapshot, getSnapshot, listSnapshots } from "./snapshot.js";
import { type ImportVolumeOptions, importVolume } from "./volume-backup.js";
import { importImage } from "./image-import.js";

/**
 * `Sandbox.create()` options: the daemon's CreateSandboxRequest plus where the daemon is.
 *
 * @example const options: CreateSandboxOptions = { memory: "1GiB", timeout: "10m", url: "http://127.0.0.1:7420" };
 */
export type CreateSandboxOptions = DenoSandboxOptions & ConnectionOptions;

/**
 * Filter of `Sandbox.list()` / `client.listSandboxes()`.
 *
 * @example const ci = await Sandbox.list({ labels: { job: "ci" }, state: "running" });
 */
export interface ListSandboxesFilter {
  /** Only sandboxes that carry all of these labels. */
  labels?: Record<string, string>;
  /** Only sandboxes in this state. */
  state?: SandboxState;
}

/**
 * A connection to one Atoll daemon.
 *
 * @example
 *   import { Client } from "atoll";
 *   const client = new Client({ url: "http://10.0.0.5:7420", token: process.env.ATOLL_TOKEN });
 *   const volume = await client.createVolume({ name: "data", sizeGb: 2 });
 *   await using sandbox = await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
 */
export class Client {
  /** @internal */
  readonly http: HttpClient;

  constructor(options: ConnectionOptions = {}) {
    this.http = new HttpClient(options);
  }

  /**
   * Tokens and quotas (admin tokens only).
   *
   * @example const { token } = await new Client().admin.createToken({ tenant: "team-a" });
   */
  get admin(): AdminClient {
    return new AdminClient(this.http);
  }

  /**
   * Deno Sandbox's volume namespace: `create({ slug, region, capacity })`, `get`, `list`, `delete`.
   *
   * @example const v = await new Client().volumes.create({ slug: "cache", region: "ord", capacity: "1GiB" });
   */
  get volumes(): DenoVolumes {
    return new DenoVolumes(this);
  }

  /**
   * Deno Sandbox's snapshot namespace: `get`, `list`, `delete` (take one with `volumes.snapshot`).
   *
   * @example const snap = await new Client().snapshots.get("my-snapshot");
   */
  get snapshots(): DenoSnapshots {
    return new DenoSnapshots(this);
  }

  /**
   * Deno Sandbox's sandbox namespace: `create`, `connect`, `list`.
   *
   * @example await using sandbox = await new Client().sandboxes.create();
   */
  get sandboxes(): DenoSandboxes {
    return new DenoSandboxes(this);
  }

  /**
   * Creates a sandbox and opens its session (see `Sandbox.create`).
   *
   * @example await using sandbox = await client.createSandbox({ timeout: "5m" });
   */
  async createSandbox(denoOrAtollOptions: DenoSandboxOptions = {}): Promise<Sandbox> {
    const options = toCreateSandboxRequest(denoOrAtollOptions);
    parseOrThrow(createSandboxSchema, options, "Sandbox.create options");
    const info = await this.http.request<SandboxInfo>("POST", "/v1/sandboxes", { body: options });
    let session: Session;
    try {
      // A "session" sandbox ends once no session is connected: after a daemon restart, reconnect at once.
      session = await Session.open(this.http, info.id, { eager: info.timeout === "session" });
    } catch (e) {
      // Without a session the caller has no handle on the sandbox: do not leave it behind.
      await this.http.request("DELETE", `/v1/sandboxes/${seg(info.id)}`).catch(() => undefined);
      throw e;
    }
    return new Sandbox(this.http, info, session, true);
  }

  /**
   * Opens a new session to an existing, running sandbox (see `Sandbox.connect`).
   *
   * @example const sandbox = await client.connectSandbox("sbx_123");
   */
  async connectSandbox(id: string): Promise<Sandbox> {
    const info = await this.http.request<SandboxInfo>("GET", `/v1/sandboxes/${seg(id)}`);
    if (info.state === "stopped") {
      const reason = info.stopReason ?? "stopped";
      throw new SandboxNotRunningError("SANDBOX_NOT_RUNNING", sandboxStoppedMessage(id, reason, info.timeout), {
        sandboxId: id,
        stopReason: reason,
        reason,
        timeout: info.timeout,
      });
    }
    return new Sandbox(this.http, info, await Session.open(this.http, id, { eager: info.timeout === "session" }), false);
  }

  /**
   * Fetches one sandbox's info without opening a session.
   *
   * @example const { state } = await client.getSandbox("sbx_123");
   */
  getSandbox(id: string): Promise<SandboxInfo> {
    return this.http.request<SandboxInfo>("GET", `/v1/sandboxes/${seg(id)}`);
  }

  /**
   * Kills a sandbox by id without opening a session; a no-op for a stopped one.
   *
   * @example await client.killSandbox("sbx_123");
   */
  killSandbox(id: string): Promise<SandboxInfo> {
    return this.http.request<SandboxInfo>("DELETE", `/v1/sandboxes/${seg(id)}`);
  }

  /**
   * Lists sandboxes (see `Sandbox.list`).
   *
   * @example const all = await client.listSandboxes({ state: "running" });
   */
  async listSandboxes(filter: ListSandboxesFilter = {}): Promise<SandboxInfo[]> {
    const label = Object.entries(filter.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const { sandboxes } = await this.http.request<SandboxList>("GET", "/v1/sandboxes", {
      query: { label, state: filter.state },
    });
    return sandboxes;
  }

  /**
   * Creates a persistent volume.
   *
   * @example const v = await client.createVolume({ name: "models", sizeGb: 20 });
   */
  async createVolume(request: CreateVolumeRequest): Promise<Volume> {
    parseOrThrow(createVolumeSchema, request, "createVolume options");
    return new Volume(this.http, await this.http.request<VolumeInfo>("POST", "/v1/volumes", { body: request }));
  }

  /** Lists all volumes. @example const names = (await client.listVolumes()).map((v) => v.name); */
  async listVolumes(): Promise<Volume[]> {
    const { volumes } = await this.http.request<VolumeList>("GET", "/v1/volumes");
    return volumes.map((v) => new Volume(this.http, v));
  }

  /** Gets a volume by id or name. @example const v = await client.getVolume("models"); */
  async getVolume(idOrName: string): Promise<Volume> {
    return new Volume(this.http, await this.http.request<VolumeInfo>("GET", `/v1/volumes/${seg(idOrName)}`));
  }

  /**
   * Deletes a volume by id or name; `force` detaches it from every sandbox first.
   *
   * @example await client.deleteVolume("models", { force: true });
   */
  async deleteVolume(idOrName: string, options: DeleteVolumeOptions = {}): Promise<void> {
    await this.http.request("DELETE", `/v1/volumes/${seg(idOrName)}`, { query: { force: options.force ? "true" : undefined } });
  }

  /**
   * A new volume from an archive made by `volume.export()` (see `Sandbox.importVolume`).
   *
   * @example const v = await client.importVolume(archive, { name: "restored" });
   */
  async importVolume(archive: ReadableStream<Uint8Array> | Uint8Array, options: ImportVolumeOptions): Promise<Volume> {
    return new Volume(this.http, await importVolume(this.http, archive, options));
  }

  /** Lists the snapshots of every volume, newest first. @example const names = (await client.listSnapshots()).map((s) => s.name); */
  listSnapshots(): Promise<Snapshot[]> {
    return listSnapshots(this.http);
  }

  /** Gets a snapshot by id or name. @example const s = await client.getSnapshot("before-upgrade"); */
  getSnapshot(idOrName: string): Promise<Snapshot> {
    return getSnapshot(this.http, idOrName);
  }

  /** Deletes a snapshot by id or name (volumes made from it are not affected). @example await client.deleteSnapshot(snap.id); */
  deleteSnapshot(idOrName: string): Promise<void> {
    return deleteSnapshot(this.http, idOrName);
  }

  /**
   * Imports an OCI image archive (`docker save` output or an OCI layout tarball, plain, gzip or
   * zstd) as the bootable snapshot `name`; boot it with `root: name`. Its Env, WorkingDir and
   * User are honoured by the sandboxes booted from it (docs/images.md).
   *
   * @example
   *   const snap = await client.importImage(Readable.toWeb(createReadStream("app.tar")), { name: "app" });
   *   await using sb = await client.createSandbox({ root: snap.id });
   */
  importImage(archive: Uint8Array | ReadableStream<Uint8Array>, options: ImportImageRequest): Promise<Snapshot> {
    return importImage(this.http, archive, options);
  }
}

let shared: Client | undefined;

/** The Client behind `Sandbox`'s static methods, created on first use. */
export function defaultClient(): Client {
  shared ??= new Client();
  return shared;
}
