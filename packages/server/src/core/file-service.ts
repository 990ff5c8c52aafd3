/**
 * File operations on sandboxes and volumes (docs/files.md). Decides where and as whom a file
 * operation runs and turns requests into runs of the file helper, which the FilesDriver starts
 * (core/drivers.ts):
 * - sandbox: it must be running; the helper runs inside it as `app` or `root`, so the kernel
 *   resolves every path in the sandbox's own mounts and root (read-only mounts refuse writes);
 * - volume: always as `app`; the volume is acquired (mounted on the host, reference counted like
 *   an attachment, so it cannot be deleted meanwhile) for as long as the helper runs, in a
 *   throwaway view holding only that volume.
 * Paths are passed as given; relative ones are made absolute against /home/app (sandbox) or
 * the volume root. No path is ever resolved on the host. What the helper may send, and how much
 * the daemon holds per call, is bounded by files/fs-call.ts.
 */
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { AtollError, ConflictError, type FsOp, type FsTarResult, type FsWriteResult, InvalidArgumentError } from "atoll/contract";
import type { Logger } from "pino";
import type { FilesDriver, ProcessSink, StorageDriver } from "./drivers.js";
import type { LiveSandboxes } from "./live-sandboxes.js";
import type { SandboxService } from "./sandbox-service.js";
import type { VolumeService } from "./volume-service.js";
import type { KeyedMutex } from "../host/keyed-mutex.js";
import { FsCall, type FsCallOptions, type FsSpawner, type Json } from "../files/fs-call.js";
import { crashPoint } from "../crash-points.js";

const APP_HOME = "/home/app";

/** Where a file operation acts, as the request names it. */
export interface FsPlace {
  kind: "sandbox" | "volume";
  tenant: string;
  /** Sandbox id, or volume id or name. */
  id: string;
  /** Who acts: sandboxes take `app` or `root`, volumes only `app`. */
  user: "app" | "root";
}

/** A place file operations run in, resolved: one running sandbox (as one user) or one acquired volume. */
interface FsTarget {
  spawn: FsSpawner;
  /** Absolute path for a path from the request. */
  resolve(path: string): string;
  /** Default directory of makeTempDir/makeTempFile. */
  tmpDir: string;
  who: string;
  explainExit: FsCallOptions["explainExit"];
  /** Drops what the target holds (a volume reference). Idempotent; called once every call on it ended. */
  release(): Promise<void>;
}

export interface FileServiceDeps {
  sandboxes: SandboxService;
  live: LiveSandboxes;
  volumes: VolumeService;
  storage: StorageDriver;
  locks: KeyedMutex;
  driver: FilesDriver;
  logger: Logger;
}

/** Options of a file write (the parsed `PUT …/fs/file` query). */
export interface FsWriteOptions {
  path: string;
  mode?: number | undefined;
  append: boolean;
  create: boolean;
  createNew: boolean;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export class FileService {
  private readonly active = new Set<FsCall>();

  constructor(private readonly deps: FileServiceDeps) {}

  /** One metadata operation (`POST …/fs/op`). */
  async op(place: FsPlace, req: FsOp): Promise<Json> {
    return this.on(place, async (target) => {
      const argv = opArgv(req, target.resolve, target.tmpDir);
      const result = await this.start(target, argv, { stdin: false, streams: false }).result;
      switch (req.op) {
        case "realPath":
        case "makeTempDir":
        case "makeTempFile":
          return { path: String(result.path ?? "") };
        case "readLink":
          return { target: String(result.target ?? "") };
        case "copyFile":
          return { bytes: num(result.bytes) };
        default:
          return result;
      }
    });
  }

  /** Starts reading a file; resolves once it is open (typed error otherwise). */
  async read(place: FsPlace, path: string): Promise<{ size: number; data: Readable }> {
    return this.on(place, async (target) => {
      const call = this.start(target, ["read", target.resolve(path)], { stdin: true, streams: true });
      const opened = await call.opened;
      return { size: num(opened.size), data: call.data };
    });
  }

  /** Writes `body` to a file: atomically (temp file + rename), or appended in place. */
  async write(place: FsPlace, q: FsWriteOptions, body: Readable): Promise<FsWriteResult> {
    return this.on(place, async (target) => {
      const flags = `${q.append ? "a" : ""}${q.create ? "c" : ""}${q.createNew ? "n" : ""}` || "-";
      const mode = q.mode === undefined ? "-" : q.mode.toString(8);
      const call = this.start(target, ["write", target.resolve(q.path), mode, flags], { stdin: true, streams: false });
      return this.upload(call, body, (r) => ({ bytes: num(r.bytes) }));
    });
  }

  /** Extracts a tar `body` into a directory (created if missing). */
  async tarIn(place: FsPlace, path: string, body: Readable): Promise<FsTarResult> {
    return this.on(place, async (target) => {
      const call = this.start(target, ["tar-in", target.resolve(path)], { stdin: true, streams: false });
      return this.upload(call, body, (r) => ({ files: num(r.files), dirs: num(r.dirs), links: num(r.links), bytes: num(r.bytes) }));
    });
  }

  /** Starts a tar of a file or directory; resolves once the root is open. */
  async tarOut(place: FsPlace, path: string): Promise<Readable> {
    return this.on(place, async (target) => {
      const call = this.start(target, ["tar-out", target.resolve(path)], { stdin: true, streams: true, inbandErrors: true });
      await call.opened;
      return call.data;
    });
  }

  /** Starts listing a directory (entries as objects); resolves once it is open. */
  async readDir(place: FsPlace, path: string): Promise<Readable> {
    return this.on(place, async (target) => {
      const call = this.start(target, ["readdir", target.resolve(path)], { stdin: true, streams: true });
      await call.opened;
      return call.entries;
    });
  }

  /** Starts a recursive walk (depth 0 = the root itself); resolves once the root is found. */
  async walk(place: FsPlace, path: string, maxDepth: number, followSymlinks: boolean): Promise<Readable> {
    return this.on(place, async (target) => {
      const argv = ["walk", target.resolve(path), String(maxDepth < 0 ? -1 : maxDepth), followSymlinks ? "1" : "0"];
      const call = this.start(target, argv, { stdin: true, streams: true });
      await call.opened;
      return call.entries;
    });
  }

  /** Daemon shutdown: stop every running operation. */
  shutdown(): void {
    for (const call of this.active) call.abort();
    this.deps.driver.close();
  }

  /**
   * Resolves `place` and runs `fn` on it. The calls `fn` starts release the target once their
   * helper is gone; if `fn` fails before one took it over, it is released here.
   */
  private async on<T>(place: FsPlace, fn: (target: FsTarget) => Promise<T>): Promise<T> {
    const target = place.kind === "sandbox" ? this.sandbox(place) : await this.volume(place);
    try {
      return await fn(target);
    } catch (err) {
      await target.release();
      throw err;
    }
  }

  /** The target for a sandbox: SANDBOX_NOT_FOUND / SANDBOX_NOT_RUNNING unless it runs. */
  private sandbox({ tenant, id: sandboxId, user }: FsPlace): FsTarget {
    this.deps.sandboxes.assertRunning(tenant, sandboxId);
    const live = this.deps.live.get(sandboxId)!;
    return {
      spawn: (argv, stdin, sink: ProcessSink) => this.deps.driver.runInSandbox(live.runtime, user, argv, stdin, sink),
      resolve: (p) => (p.startsWith("/") ? p : `${APP_HOME}/${p}`),
      tmpDir: "/tmp",
      who: `user "${user}" in sandbox ${sandboxId}`,
      explainExit: () => {
        const now = this.deps.live.get(sandboxId);
        if (now && !now.stopping) return undefined;
        try {
          this.deps.sandboxes.assertRunning(tenant, sandboxId); // throws with why it stopped (its timeout, a kill…)
        } catch (err) {
          if (err instanceof AtollError) return err;
        }
        return new ConflictError("SANDBOX_NOT_RUNNING", `Sandbox ${sandboxId} stopped while the file operation ran; nothing was left half-written.`, {
          sandboxId,
        });
      },
      release: async () => undefined,
    };
  }

  /** The target for a volume, mounted on the host for as long as the target is held. */
  private async volume({ tenant, id: idOrName, user }: FsPlace): Promise<FsTarget> {
    if (user !== "app") throw new InvalidArgumentError('Volume files are always handled as user "app"; drop user=root');
    const row = this.deps.volumes.find(tenant, idOrName);
    const source = await this.deps.locks.run(row.id, async () => {
      this.deps.volumes.find(tenant, row.id); // deleted meanwhile → VOLUME_NOT_FOUND
      return this.deps.storage.acquire(row.id);
    });
    crashPoint("volume.files.after-mount");
    let released = false;
    return {
      spawn: (argv, stdin, sink) => this.deps.driver.runOnVolume(source, argv, stdin, sink),
      resolve: (p) => (p.startsWith("/") ? p : `/${p}`),
      tmpDir: "/",
      who: `user "app" on volume ${row.name}`,
      explainExit: undefined,
      release: async () => {
        if (released) return;
        released = true;
        await this.deps.locks.run(row.id, () => this.deps.storage.release(row.id));
      },
    };
  }

  private start(target: FsTarget, argv: string[], opts: Omit<FsCallOptions, "who" | "explainExit">): FsCall {
    // Released once the helper is gone (its process may hold the volume's mount until then) and
    // before the caller learns the outcome.
    const finalize = async () => {
      this.active.delete(call);
      await target.release().catch((err: unknown) => this.deps.logger.error({ err }, "releasing a volume after a file operation failed"));
    };
    const call = new FsCall(target.spawn, argv, { ...opts, who: target.who, explainExit: target.explainExit, finalize });
    this.active.add(call);
    return call;
  }

  /** Feeds an upload body to a call; on an early failure the rest of the body is read and dropped. */
  private async upload<T>(call: FsCall, body: Readable, shape: (r: Json) => T): Promise<T> {
    const sending = call.sendInput(body).catch(() => undefined);
    try {
      return shape(await call.result);
    } finally {
      await sending;
      if (!body.readableEnded && !body.destroyed) {
        // Answer only after the client sent everything, or it may not read the answer.
        body.resume();
        await finished(body).catch(() => undefined);
      }
    }
  }
}

/** argv of the helper for a metadata operation. */
function opArgv(req: FsOp, r: (p: string) => string, tmpDir: string): string[] {
  switch (req.op) {
    case "stat":
    case "lstat":
      return [req.op, r(req.path)];
    case "realPath":
      return ["realpath", r(req.path)];
    case "readLink":
      return ["readlink", r(req.path)];
    case "mkdir":
      return ["mkdir", r(req.path), req.mode === undefined ? "-" : req.mode.toString(8), req.recursive ? "1" : "0"];
    case "remove":
      return ["remove", r(req.path), req.recursive ? "1" : "0"];
    case "rename":
      return ["rename", r(req.from), r(req.to)];
    case "copyFile":
      return ["copy", r(req.from), r(req.to)];
    case "symlink":
      return ["symlink", req.target, r(req.path)]; // the link's text is stored as given
    case "chmod":
      return ["chmod", r(req.path), req.mode.toString(8)];
    case "chown":
      return ["chown", r(req.path), String(req.uid ?? -1), String(req.gid ?? -1)];
    case "truncate":
      return ["truncate", r(req.path), String(req.length)];
    case "makeTempDir":
    case "makeTempFile":
      return ["mktemp", req.op === "makeTempDir" ? "d" : "f", req.dir === undefined ? tmpDir : r(req.dir), req.prefix, req.suffix];
  }
}
