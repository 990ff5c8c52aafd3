/**
 * `FileSystem`: the file operations shared by `sandbox.fs` and `volume.fs` (docs/files.md).
 * Every operation runs on the daemon's side inside the sandbox (or the volume's jail) with the
 * sandbox user's rights; errors are the contract's typed errors (NOT_FOUND, PERMISSION_DENIED,
 * READ_ONLY, NO_SPACE, …). Paths are absolute, or relative to /home/app (sandbox) or to the
 * volume root.
 */
import {
  type FsDirEntryWire,
  type FsFileInfo,
  type FsOpRequest,
  type FsTarResult,
  type FsWalkEntryWire,
  type FsWriteResult,
  InvalidArgumentError,
  NotFoundError,
} from "./contract/index.js";
import { collectStream } from "./child-process.js";
import { fsFetch, fsJson, ndjsonLines } from "./fs-http.js";
import { globBase, globMatcher } from "./fs-glob.js";
import {
  type DirEntry,
  type ExpandGlobOptions,
  type FileInfo,
  type MakeTempOptions,
  type MkdirOptions,
  type RemoveOptions,
  type TransferOptions,
  type TransferSummary,
  type WalkEntry,
  type WalkOptions,
  type WriteFileOptions,
  entryFlags,
  toFileInfo,
} from "./fs-types.js";
import type { HttpClient } from "./http-client.js";

/** Where a FileSystem's requests go and how its relative paths resolve. */
export interface FileSystemTarget {
  /** `/v1/sandboxes/<id>/fs` or `/v1/volumes/<id>/fs`. */
  base: string;
  /** Directory relative paths and globs start from. */
  home: string;
  /** Sandbox user ("app" or "root"); volumes are always "app". */
  user?: "app" | "root";
}

const encoder = new TextEncoder();

/** A string, bytes or a stream of either, as bytes. */
function toBody(data: Uint8Array | string | ReadableStream<Uint8Array> | ReadableStream<string>): Uint8Array | ReadableStream<Uint8Array> {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ReadableStream) {
    return (data as ReadableStream<Uint8Array | string>).pipeThrough(
      new TransformStream<Uint8Array | string, Uint8Array>({
        transform: (chunk, c) => c.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
      }),
    );
  }
  throw new InvalidArgumentError("writeFile takes a Uint8Array, a string or a ReadableStream");
}

/**
 * File operations on one sandbox or volume. Get one as `sandbox.fs` or `volume.fs`.
 *
 * @example
 *   await sandbox.fs.writeTextFile("hello.txt", "hi");
 *   const text = await sandbox.fs.readTextFile("hello.txt");
 */
export class FileSystem {
  /** @internal */
  protected readonly http: HttpClient;
  /** @internal */
  protected readonly target: FileSystemTarget;

  /** @internal Use `sandbox.fs` or `volume.fs`. */
  constructor(http: HttpClient, target: FileSystemTarget) {
    this.http = http;
    this.target = target;
  }

  private query(q: Record<string, string | undefined>): Record<string, string | undefined> {
    return this.target.user && this.target.user !== "app" ? { ...q, user: this.target.user } : q;
  }

  private op<T>(request: FsOpRequest): Promise<T> {
    return fsJson<T>(this.http, "POST", `${this.target.base}/op`, { json: request, query: this.query({}) });
  }

  /**
   * Reads a whole file. For big files prefer `readFileStream` or `download`.
   *
   * @example const bytes = await sandbox.fs.readFile("/etc/hostname");
   */
  async readFile(path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return collectStream(await this.readFileStream(path, options));
  }

  /** Reads a file as UTF-8 text. @example const cfg = JSON.parse(await sandbox.fs.readTextFile("config.json")); */
  async readTextFile(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return new TextDecoder().decode(await this.readFile(path, options));
  }

  /**
   * Streams a file's contents; nothing is buffered beyond what you have not read yet.
   *
   * @example const stream = await sandbox.fs.readFileStream("big.bin"); for await (const chunk of stream) process(chunk);
   */
  async readFileStream(path: string, options: { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await fsFetch(this.http, "GET", `${this.target.base}/file`, { query: this.query({ path }), signal: options.signal });
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /**
   * Writes a file from bytes, a string or a stream. The file is replaced atomically: until the
   * last byte arrived the old contents stay, and a failed or interrupted write leaves nothing
   * half-written (append writes in place and is rolled back on failure).
   *
   * @example await sandbox.fs.writeFile("data.bin", new Uint8Array([1, 2, 3]), { mode: 0o600 });
   */
  async writeFile(path: string, data: Uint8Array | string | ReadableStream<Uint8Array>, options: WriteFileOptions = {}): Promise<void> {
    await this.writeFileWithResult(path, data, options);
  }

  /** writeFile that also returns the number of bytes written. @internal */
  async writeFileWithResult(
    path: string,
    data: Uint8Array | string | ReadableStream<Uint8Array> | ReadableStream<string>,
    options: WriteFileOptions = {},
  ): Promise<FsWriteResult> {
    const { append, create, createNew, mode, signal } = options;
    if (mode !== undefined && !(Number.isInteger(mode) && mode >= 0 && mode <= 0o7777)) {
      throw new InvalidArgumentError(`mode must be a permission number such as 0o644, got ${String(mode)}`);
    }
    return fsJson<FsWriteResult>(this.http, "PUT", `${this.target.base}/file`, {
      query: this.query({
        path,
        mode: mode === undefined ? undefined : mode.toString(8),
        append: append ? "true" : undefined,
        create: create === false ? "false" : undefined,
        createNew: createNew ? "true" : undefined,
      }),
      body: toBody(data),
      signal,
    });
  }

  /** Writes UTF-8 text (same options as writeFile). @example await sandbox.fs.writeTextFile("a.txt", "hello\n", { append: true }); */
  async writeTextFile(path: string, text: string | ReadableStream<string>, options: WriteFileOptions = {}): Promise<void> {
    await this.writeFileWithResult(path, text, options);
  }

  /**
   * Lists a directory.
   *
   * @example for await (const entry of sandbox.fs.readDir(".")) console.log(entry.name, entry.isDirectory);
   */
  readDir(path: string): AsyncIterable<DirEntry> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const res = await fsFetch(self.http, "GET", `${self.target.base}/dir`, { query: self.query({ path }) });
        for await (const e of ndjsonLines<FsDirEntryWire>(res)) yield { name: e.name, ...entryFlags(e.type) };
      },
    };
  }

  /** Creates a directory. @example await sandbox.fs.mkdir("a/b", { recursive: true }); */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    await this.op({ op: "mkdir", path, recursive: options.recursive ?? false, ...(options.mode !== undefined ? { mode: options.mode } : {}) });
  }

  /** Removes a file, symlink or (empty, or with `recursive`) directory. @example await sandbox.fs.remove("tmp", { recursive: true }); */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    await this.op({ op: "remove", path, recursive: options.recursive ?? false });
  }

  /** Renames (moves) within one filesystem. @example await sandbox.fs.rename("a.txt", "b.txt"); */
  async rename(oldPath: string, newPath: string): Promise<void> {
    await this.op({ op: "rename", from: oldPath, to: newPath });
  }

  /** Copies a file (contents and permissions; replaces the target atomically). @example await sandbox.fs.copyFile("a", "b"); */
  async copyFile(fromPath: string, toPath: string): Promise<void> {
    await this.op({ op: "copyFile", from: fromPath, to: toPath });
  }

  /** Information about a path, following symlinks. @example const { size } = await sandbox.fs.stat("a.bin"); */
  async stat(path: string): Promise<FileInfo> {
    return toFileInfo(await this.op<FsFileInfo>({ op: "stat", path }));
  }

  /** Like stat, but about a symlink itself. @example (await sandbox.fs.lstat("link")).isSymlink */
  async lstat(path: string): Promise<FileInfo> {
    return toFileInfo(await this.op<FsFileInfo>({ op: "lstat", path }));
  }

  /** true if the path exists (following symlinks). @example if (await sandbox.fs.exists("done")) …; */
  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (e) {
      if (e instanceof NotFoundError && e.code === "NOT_FOUND") return false;
      throw e;
    }
  }

  /** The absolute path with every symlink resolved. @example await sandbox.fs.realPath("."); // "/home/app" */
  async realPath(path: string): Promise<string> {
    return (await this.op<{ path: string }>({ op: "realPath", path })).path;
  }

  /** Creates a symlink at `path` pointing to `target` (stored as given). @example await sandbox.fs.symlink("/data", "data"); */
  async symlink(target: string, path: string): Promise<void> {
    await this.op({ op: "symlink", target, path });
  }

  /** The target a symlink holds. @example await sandbox.fs.readLink("data"); // "/data" */
  async readLink(path: string): Promise<string> {
    return (await this.op<{ target: string }>({ op: "readLink", path })).target;
  }

  /** Changes permission bits. @example await sandbox.fs.chmod("run.sh", 0o755); */
  async chmod(path: string, mode: number): Promise<void> {
    await this.op({ op: "chmod", path, mode });
  }

  /** Changes owner and/or group (null keeps it); only root may give files away. @example await sandbox.fs.asRoot().chown("f", 1000, 1000); */
  async chown(path: string, uid: number | null, gid: number | null): Promise<void> {
    await this.op({ op: "chown", path, uid, gid });
  }

  /** Cuts or extends a file to `length` bytes (default 0). @example await sandbox.fs.truncate("log.txt"); */
  async truncate(path: string, length = 0): Promise<void> {
    await this.op({ op: "truncate", path, length });
  }

  /** Creates a new directory with a unique name and returns its path. @example const dir = await sandbox.fs.makeTempDir(); */
  async makeTempDir(options: MakeTempOptions = {}): Promise<string> {
    return (await this.op<{ path: string }>({ op: "makeTempDir", ...options })).path;
  }

  /** Creates a new empty file with a unique name and returns its path. @example const f = await sandbox.fs.makeTempFile({ suffix: ".json" }); */
  async makeTempFile(options: MakeTempOptions = {}): Promise<string> {
    return (await this.op<{ path: string }>({ op: "makeTempFile", ...options })).path;
  }

  /**
   * Walks a directory tree, depth first; the root itself comes first (depth 0). Directories
   * the user may not list are yielded but not entered.
   *
   * @example for await (const e of sandbox.fs.walk("src", { includeDirs: false, exts: [".ts"] })) console.log(e.path);
   */
  walk(root: string, options: WalkOptions = {}): AsyncIterable<WalkEntry> {
    const self = this;
    const maxDepth = options.maxDepth ?? Infinity;
    const exts = options.exts?.map((e) => (e.startsWith(".") ? e : `.${e}`));
    return {
      async *[Symbol.asyncIterator]() {
        const res = await fsFetch(self.http, "GET", `${self.target.base}/walk`, {
          query: self.query({
            path: root,
            maxDepth: Number.isFinite(maxDepth) ? String(Math.max(0, Math.floor(maxDepth))) : "-1",
            followSymlinks: options.followSymlinks ? "true" : undefined,
          }),
        });
        const skipped: string[] = [];
        for await (const e of ndjsonLines<FsWalkEntryWire>(res)) {
          if (skipped.some((p) => e.path.startsWith(`${p}/`))) continue;
          if (options.skip?.some((re) => re.test(e.path))) {
            if (e.type === "dir") skipped.push(e.path);
            continue;
          }
          if (e.type === "file" && options.includeFiles === false) continue;
          if (e.type === "dir" && options.includeDirs === false) continue;
          if (e.type === "symlink" && options.includeSymlinks === false) continue;
          if (exts && !(e.type === "file" && exts.some((x) => e.name.endsWith(x)))) continue;
          if (options.match && !options.match.some((re) => re.test(e.path))) continue;
          yield { path: e.path, name: e.name, ...entryFlags(e.type) };
        }
      },
    };
  }

  /**
   * Paths matching a glob (`*`, `?`, `[…]`, `{a,b}` also nested, `**`, `\` escapes).
   *
   * @example for await (const f of sandbox.fs.expandGlob("**\/*.log", { root: "/var/log" })) console.log(f.path);
   */
  expandGlob(glob: string, options: ExpandGlobOptions = {}): AsyncIterable<WalkEntry> {
    const root = options.root ?? this.target.home;
    const abs = glob.startsWith("/") ? glob : `${root.replace(/\/+$/, "")}/${glob}`;
    const { base, maxDepth } = globBase(abs);
    const matches = globMatcher(abs, options.caseInsensitive);
    const excludes = (options.exclude ?? []).map((g) => globMatcher(g.startsWith("/") ? g : `${root.replace(/\/+$/, "")}/${g}`, options.caseInsensitive));
    const walk = this.walk(base, { maxDepth, followSymlinks: options.followSymlinks ?? false, includeDirs: options.includeDirs ?? true });
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const e of walk) if (matches(e.path) && !excludes.some((x) => x(e.path))) yield e;
        } catch (err) {
          if (err instanceof NotFoundError && err.code === "NOT_FOUND") return; // nothing matches
          throw err;
        }
      },
    };
  }

  /**
   * A tar stream of a file or directory tree (the raw HTTP body; see docs/files.md). A failure
   * part way is reported inside the tar (pax keyword ATOLL.error); `download` and `importTar`
   * turn it into the typed error.
   *
   * @example await other.fs.importTar("/copy", await sandbox.fs.exportTar("/project"));
   */
  async exportTar(path: string, options: { signal?: AbortSignal } = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await fsFetch(this.http, "GET", `${this.target.base}/tar`, { query: this.query({ path }), signal: options.signal });
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /**
   * Extracts a tar stream into a directory (created if missing, merged into if it exists). Each
   * file appears under its name only once complete.
   *
   * @example const { files } = await sandbox.fs.importTar("/srv", tarStream);
   */
  async importTar(path: string, tar: Uint8Array | ReadableStream<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<FsTarResult> {
    return fsJson<FsTarResult>(this.http, "PUT", `${this.target.base}/tar`, {
      query: this.query({ path }),
      body: tar,
      contentType: "application/x-tar",
      signal: options.signal,
    });
  }

  /**
   * Copies a local file or directory tree (Node, Deno and Bun with `node:fs`) to `remotePath`,
   * which becomes that file or directory. A directory uploaded to an existing directory goes
   * inside it under its own name, as in Deno Sandbox (`upload("./site", ".")` makes `./site`;
   * a copy already there is merged into). Streamed: large files never sit in memory.
   *
   * @example await sandbox.fs.upload("./my-project", "project", { onProgress: (p) => console.log(p.bytes) });
   * @example await sandbox.fs.upload("./site", "."); // ./site in the sandbox
   */
  async upload(localPath: string, remotePath: string, options: TransferOptions = {}): Promise<TransferSummary> {
    const { uploadPath } = await import("./fs-transfer.js");
    return uploadPath(this, localPath, remotePath, options);
  }

  /**
   * Copies a file or directory tree from `remotePath` to `localPath` (which becomes that file
   * or directory). Each local file appears under its name only once complete.
   *
   * @example await sandbox.fs.download("project/dist", "./dist");
   */
  async download(remotePath: string, localPath: string, options: TransferOptions = {}): Promise<TransferSummary> {
    const { downloadPath } = await import("./fs-transfer.js");
    return downloadPath(this, remotePath, localPath, options);
  }
}
