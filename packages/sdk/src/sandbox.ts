/**
 * `Sandbox`: one live sandbox and its session. Static methods (`Sandbox.create`,
 * `Sandbox.createVolume`, …) go through a default `Client`; see client.ts for the same
 * operations bound to an explicit URL and token.
 */
import { type ChildProcess, startChildProcess } from "./child-process.js";
import { type ListSandboxesFilter, Client, type CreateSandboxOptions, defaultClient } from "./client.js";
import type { ConnectionOptions } from "./connection.js";
import {
  type CreateVolumeRequest,
  type ImportImageRequest,
  InvalidArgumentError,
  type SandboxInfo,
  type VolumeAttachment,
  type VolumeMountRequest,
  buildShellCommand,
  parseOrThrow,
  volumeMountSchema,
} from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";
import { SandboxEnv } from "./sandbox-env.js";
import { SandboxDeno } from "./sandbox-deno.js";
import { exposeHttp, sandboxFetch, setAllowNet } from "./sandbox-network.js";
import { SandboxFs } from "./sandbox-fs.js";
import type { Session } from "./session.js";
import { ShellCommand } from "./shell-command.js";
import type { SpawnOptions } from "./spawn-options.js";
import type { DeleteVolumeOptions, Volume } from "./volume.js";
import type { ImportVolumeOptions } from "./volume-backup.js";
import type { Snapshot } from "./snapshot.js";

/**
 * Options of `sandbox.detachVolume()`.
 *
 * @example await sandbox.detachVolume(volume.id, { force: true });
 */
export interface DetachVolumeOptions {
  /** Detach even when the daemon reports the volume busy (files on it still open). */
  force?: boolean;
}

/**
 * The `sh` tag of a sandbox.
 *
 * @example const { sh } = sandbox; await sh`echo ${"safe to destructure"}`;
 */
export type ShellTag = (strings: TemplateStringsArray, ...values: unknown[]) => ShellCommand;

function clientFor(conn: ConnectionOptions | undefined): Client {
  return conn && (conn.url !== undefined || conn.token !== undefined) ? new Client(conn) : defaultClient();
}

/**
 * A running sandbox. Get one with `Sandbox.create()` or `Sandbox.connect(id)`; it holds a
 * session WebSocket on which all its commands run.
 *
 * @example
 *   import { Sandbox } from "atoll";
 *   await using sandbox = await Sandbox.create({ memory: "1GiB", timeout: "5m" });
 *   await sandbox.sh`echo hello from ${sandbox.id}`;
 */
export class Sandbox implements AsyncDisposable {
  /** The sandbox id, e.g. `sbx_…`. */
  readonly id: string;
  /** The sandbox-wide environment. */
  readonly env: SandboxEnv;
  /**
   * The sandbox's files, as its processes see them (docs/files.md).
   *
   * @example await sandbox.fs.writeTextFile("hello.txt", "hi"); await sandbox.fs.download("out", "./out");
   */
  readonly fs: SandboxFs;
  /**
   * Deno programs and a Deno REPL in the sandbox (Deno Sandbox's `sandbox.deno`).
   *
   * @example console.log(await sandbox.deno.eval("Deno.version.deno"));
   */
  readonly deno: SandboxDeno;
  /**
   * Runs a shell command: a tagged template whose interpolated values are quoted for POSIX sh
   * (arrays become several arguments). Lazy: nothing runs until awaited. Interpolating null,
   * undefined, objects or promises throws a TypeError right away. Wrap secrets in `secret()`:
   * the command gets the value, the command log (and error messages) only `"$ATOLL_SH_SECRET_0"`.
   *
   * @example
   *   const dir = "/mnt/my data";
   *   await sandbox.sh`mkdir -p ${dir} && ls ${dir}`;
   *   const n = Number(await sandbox.sh`ls ${dir} | wc -l`.text());
   *   await sandbox.sh`curl -fsS -H ${secret(`Authorization: Bearer ${apiKey}`)} https://api.example.com/`;
   */
  readonly sh: ShellTag;
  readonly #http: HttpClient;
  readonly #session: Session;
  readonly #owned: boolean;
  #info: SandboxInfo;

  /** @internal Use `Sandbox.create()`, `Sandbox.connect()` or a Client. */
  constructor(http: HttpClient, info: SandboxInfo, session: Session, owned: boolean) {
    this.id = info.id;
    this.#http = http;
    this.#info = info;
    this.#session = session;
    this.#owned = owned;
    this.env = new SandboxEnv(http, info.id);
    this.fs = new SandboxFs(http, info.id);
    this.deno = new SandboxDeno(this);
    const spawn = (cmd: string, options: SpawnOptions) => this.spawn(cmd, options);
    this.sh = (strings: TemplateStringsArray, ...values: unknown[]) => {
      if (!Array.isArray(strings) || !("raw" in strings)) {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the template syntax
        throw new TypeError("sandbox.sh is a tagged template: write sandbox.sh`ls -l ${dir}`, not sandbox.sh(...)");
      }
      const { script, env } = buildShellCommand(strings, values);
      return new ShellCommand(spawn, script, undefined, env);
    };
    session.onStopped((reason) => {
      this.#info = { ...this.#info, state: "stopped", stopReason: reason };
    });
  }

  /**
   * Creates a sandbox and opens its session. Options are validated before anything is sent;
   * unknown options are an InvalidArgumentError. `url`/`token` choose the daemon.
   *
   * @example
   *   await using sandbox = await Sandbox.create({
   *     memory: "2GiB", timeout: "10m", labels: { job: "ci" },
   *     volumes: [{ id: volume.id, mountPath: "/mnt/cache", accessMode: "rw" }],
   *   });
   */
  static create(options: CreateSandboxOptions = {}): Promise<Sandbox> {
    const { url, token, ...request } = options;
    return clientFor({ url, token }).createSandbox(request);
  }

  /**
   * Opens a new session to an existing sandbox, by id or (Deno's form) `{ id, ...connection }`.
   * Closing it (or `await using`) does not kill the sandbox, except a `timeout: "session"`
   * sandbox whose creator's session is gone.
   *
   * @example const sandbox = await Sandbox.connect("sbx_123"); await sandbox.sh`uptime`; await sandbox.close();
   * @example await using sandbox = await Sandbox.connect({ id: "sbx_123" });
   */
  static connect(id: string, conn?: ConnectionOptions): Promise<Sandbox>;
  static connect(options: ConnectionOptions & { id: string }): Promise<Sandbox>;
  static connect(idOrOptions: string | (ConnectionOptions & { id: string }), conn?: ConnectionOptions): Promise<Sandbox> {
    if (typeof idOrOptions === "string") return clientFor(conn).connectSandbox(idOrOptions);
    if (idOrOptions === null || typeof idOrOptions !== "object" || typeof idOrOptions.id !== "string") {
      throw new InvalidArgumentError("Sandbox.connect takes a sandbox id or { id }");
    }
    const { id, ...connection } = idOrOptions;
    return clientFor(connection).connectSandbox(id);
  }

  /**
   * Lists sandboxes, optionally only those with all the given labels and/or in one state.
   *
   * @example const running = await Sandbox.list({ labels: { job: "ci" }, state: "running" });
   */
  static list(filter?: ListSandboxesFilter, conn?: ConnectionOptions): Promise<SandboxInfo[]> {
    return clientFor(conn).listSandboxes(filter);
  }

  /**
   * Creates a persistent volume (`sizeGb` in GiB). With `from` (a snapshot's id or name) it starts
   * as that snapshot, copy-on-write: made in milliseconds, taking space only for what it changes.
   *
   * @example const volume = await Sandbox.createVolume({ name: "agent-cache", sizeGb: 5 });
   * @example const fork = await Sandbox.createVolume({ name: "try-upgrade", sizeGb: 5, from: "before-upgrade" });
   */
  static createVolume(request: CreateVolumeRequest, conn?: ConnectionOptions): Promise<Volume> {
    return clientFor(conn).createVolume(request);
  }

  /**
   * A new volume from an archive made by `volume.export()` or `atoll volume export`, streamed
   * (any size, bounded memory). `sizeGb` defaults to the exported volume's. The volume appears
   * only once the archive's checksum checked out and every file was restored; on any failure
   * nothing is left and the name stays free. Errors: ARCHIVE_INVALID (`details.reason`: format,
   * truncated, checksum, contents), VOLUME_NAME_TAKEN, INVALID_ARGUMENT (too small), QUOTA_EXCEEDED.
   *
   * @example
   *   import { createReadStream } from "node:fs";
   *   import { Readable } from "node:stream";
   *   const archive = Readable.toWeb(createReadStream("cache.atollvol")) as ReadableStream<Uint8Array>;
   *   const volume = await Sandbox.importVolume(archive, { name: "cache-restored", sizeGb: 10 });
   */
  static importVolume(archive: ReadableStream<Uint8Array> | Uint8Array, options: ImportVolumeOptions, conn?: ConnectionOptions): Promise<Volume> {
    return clientFor(conn).importVolume(archive, options);
  }

  /** Lists all volumes. @example for (const v of await Sandbox.listVolumes()) console.log(v.name, v.usedBytes); */
  static listVolumes(conn?: ConnectionOptions): Promise<Volume[]> {
    return clientFor(conn).listVolumes();
  }

  /** Gets one volume by id or name. @example const v = await Sandbox.getVolume("agent-cache"); */
  static getVolume(idOrName: string, conn?: ConnectionOptions): Promise<Volume> {
    return clientFor(conn).getVolume(idOrName);
  }

  /**
   * Deletes a volume by id or name. Fails with VOLUME_IN_USE while it is mounted, unless `force`.
   *
   * @example await Sandbox.deleteVolume(volume.id);
   */
  static deleteVolume(idOrName: string, options?: DeleteVolumeOptions, conn?: ConnectionOptions): Promise<void> {
    return clientFor(conn).deleteVolume(idOrName, options);
  }

  /** Lists the snapshots of all volumes, newest first (docs/snapshots.md). @example for (const s of await Sandbox.listSnapshots()) console.log(s.name, s.volumeName); */
  static listSnapshots(conn?: ConnectionOptions): Promise<Snapshot[]> {
    return clientFor(conn).listSnapshots();
  }

  /**
   * Imports an OCI image archive (`docker save img > img.tar`, or an OCI layout tarball) as the
   * bootable snapshot `name` (docs/images.md "Importing an image"): boot it with `root`.
   *
   * @example
   *   const snap = await Sandbox.importImage(Readable.toWeb(createReadStream("img.tar")), { name: "img" });
   *   await using sb = await Sandbox.create({ root: snap.id }); // the image's Env, WorkingDir and User apply
   */
  static importImage(archive: Uint8Array | ReadableStream<Uint8Array>, options: ImportImageRequest, conn?: ConnectionOptions): Promise<Snapshot> {
    return clientFor(conn).importImage(archive, options);
  }

  /** Gets one snapshot by id or name. @example const snap = await Sandbox.getSnapshot("before-upgrade"); */
  static getSnapshot(idOrName: string, conn?: ConnectionOptions): Promise<Snapshot> {
    return clientFor(conn).getSnapshot(idOrName);
  }

  /** Deletes a snapshot by id or name; volumes made from it are not affected. @example await Sandbox.deleteSnapshot(snap.id); */
  static deleteSnapshot(idOrName: string, conn?: ConnectionOptions): Promise<void> {
    return clientFor(conn).deleteSnapshot(idOrName);
  }

  /**
   * Fetches the sandbox's current state (also refreshes `sandbox.volumes`).
   *
   * @example const { state, expiresAt } = await sandbox.info();
   */
  async info(): Promise<SandboxInfo> {
    return this.#update(await this.#http.request<SandboxInfo>("GET", `/v1/sandboxes/${seg(this.id)}`));
  }

  /**
   * URL of the port given as `port` to `Sandbox.create` (served by the daemon), else undefined.
   *
   * @example await using sandbox = await Sandbox.create({ port: 8000 }); console.log(sandbox.url);
   */
  get url(): string | undefined {
    return this.#info.url ?? undefined;
  }

  /**
   * Replaces the sandbox's egress policy; effective for new connections. `null` = unrestricted,
   * `[]` = no egress (docs/network.md for the entry forms).
   *
   * @example await sandbox.setAllowNet(["api.example.com:443", "*.cdn.example.com"]);
   */
  async setAllowNet(allowNet: readonly string[] | null): Promise<void> {
    this.#update(await setAllowNet(this.#http, this.id, allowNet));
  }

  /**
   * Serves a port of the sandbox at an unguessable URL on an origin of its own, never the
   * daemon's API (`http://127.a.b.c:<port>/<random>/` on the daemon's machine, or
   * `https://<random>.<domain>/` with `--expose-domain`). Append paths to it as they are
   * (`${url}api/health`). Works from Node's fetch, curl and browsers; stops when the sandbox ends.
   *
   * @example
   *   await sandbox.spawn("python3", { args: ["-m", "http.server", "8000"] });
   *   const url = await sandbox.exposeHttp({ port: 8000 });
   *   const res = await fetch(`${url}index.html`);
   */
  async exposeHttp(options: { port: number }): Promise<string> {
    return (await exposeHttp(this.#http, this.id, options)).url;
  }

  /**
   * Like `exposeHttp`, with the port and its URL.
   *
   * @example const { port, url } = await sandbox.exposeHttpDetails({ port: 3000 });
   */
  exposeHttpDetails(options: { port: number }) {
    return exposeHttp(this.#http, this.id, options);
  }

  /**
   * An HTTP request made from inside the sandbox's network: `localhost` is the sandbox itself,
   * other hosts are reached through its allowNet policy. Fails with NetworkError when the
   * sandbox cannot connect.
   *
   * @example const res = await sandbox.fetch("http://localhost:3000/health"); console.log(res.status, await res.text());
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    return sandboxFetch(this.#http, this.id, input, init);
  }

  /** Mounted volumes as last known (from create, info(), attachVolume, detachVolume). @example sandbox.volumes.map((v) => v.mountPath) */
  get volumes(): readonly VolumeAttachment[] {
    return this.#info.volumes;
  }

  /**
   * Mounts a volume into the running sandbox (hot attach). `id` is the volume's id or name;
   * `accessMode` defaults to "rw".
   *
   * @example await sandbox.attachVolume({ id: volume.id, mountPath: "/mnt/data", accessMode: "ro" });
   */
  async attachVolume(request: VolumeMountRequest): Promise<VolumeAttachment> {
    const parsed = parseOrThrow(volumeMountSchema, request, "attachVolume options");
    const info = this.#update(await this.#http.request<SandboxInfo>("POST", `/v1/sandboxes/${seg(this.id)}/volumes`, { body: request }));
    const attachment = info.volumes.find((v) => v.mountPath === parsed.mountPath);
    if (!attachment) throw new InvalidArgumentError(`The daemon did not report a volume at ${parsed.mountPath} after attaching it`);
    return attachment;
  }

  /**
   * Unmounts a volume (by id or name) from the running sandbox. Without `force` the daemon
   * refuses (ConflictError) while the volume is busy.
   *
   * @example await sandbox.detachVolume(volume.id);
   */
  async detachVolume(idOrName: string, options: DetachVolumeOptions = {}): Promise<void> {
    this.#update(
      await this.#http.request<SandboxInfo>("DELETE", `/v1/sandboxes/${seg(this.id)}/volumes/${seg(idOrName)}`, {
        query: { force: options.force ? "true" : undefined },
      }),
    );
  }

  /**
   * Extends the sandbox's lifetime by `duration` ("5m", "1h", or milliseconds). Without an
   * argument it extends by the duration the sandbox was created with. Session sandboxes have no
   * deadline: pass a duration to give them one, if the daemon allows it. Resolves to the new
   * deadline as a Date (as in Deno Sandbox); `sandbox.info()` has the rest.
   *
   * @example const stopsAt = await sandbox.extendTimeout("10m"); console.log(stopsAt.toISOString());
   */
  async extendTimeout(duration?: string | number): Promise<Date> {
    const extendBy = duration ?? this.#info.timeout;
    if (extendBy === "session") {
      throw new InvalidArgumentError(
        `Sandbox ${this.id} lives as long as its session (timeout "session"), so there is no duration to extend by; pass one, e.g. extendTimeout("5m")`,
      );
    }
    const info = this.#update(await this.#http.request<SandboxInfo>("POST", `/v1/sandboxes/${seg(this.id)}/timeout`, { body: { extendBy } }));
    if (info.expiresAt === null) throw new InvalidArgumentError(`The daemon reported no deadline for sandbox ${this.id} after extending it`);
    return new Date(info.expiresAt);
  }

  /**
   * Starts a process and resolves once it runs. Default cwd /home/app, user "app", stdin "null",
   * stdout/stderr "inherit".
   *
   * @example
   *   const child = await sandbox.spawn("python3", { args: ["-m", "http.server"], stdout: "piped" });
   *   child.kill();
   *   console.log(await child.status);
   */
  spawn(cmd: string, options?: SpawnOptions): Promise<ChildProcess> {
    return startChildProcess(this.#session, cmd, options);
  }

  /**
   * Stops the sandbox and everything in it, then closes the session. Killing a stopped sandbox
   * is a no-op.
   *
   * @example await sandbox.kill();
   */
  async kill(): Promise<void> {
    try {
      this.#update(await this.#http.request<SandboxInfo>("DELETE", `/v1/sandboxes/${seg(this.id)}`));
    } finally {
      await this.#session.close();
    }
  }

  /**
   * Closes this object's session. The sandbox keeps running until its timeout, except a
   * `timeout: "session"` sandbox created by this object, which ends with its session.
   *
   * @example await sandbox.close();
   */
  close(): Promise<void> {
    return this.#session.close();
  }

  /**
   * `await using`, as in Deno Sandbox: closes the session. A `timeout: "session"` sandbox this
   * object created is killed (it would end with its session anyway; killing waits for it); a
   * sandbox with a fixed timeout keeps running until it expires or `kill()`.
   *
   * @example { await using sandbox = await Sandbox.create(); } // killed here: a session sandbox
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#owned && this.#info.timeout === "session") await this.kill();
    else await this.close();
  }

  #update(info: SandboxInfo): SandboxInfo {
    this.#info = info;
    return info;
  }
}
