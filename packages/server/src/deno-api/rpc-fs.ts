/**
 * The file methods of Deno's protocol on Atoll's FileService (docs/files.md): every call runs
 * the file helper inside the sandbox as `app`, exactly as Atoll's own file API does. Results
 * take Deno's shapes (stat objects with dates, readDir entries with isFile/isDirectory/isSymlink,
 * walk entries on a stream). Files opened with `open` are read-only here.
 */
import { PassThrough, type Readable } from "node:stream";
import { InvalidArgumentError, type FsFileInfo, type FsOp, fsOpSchema, parseOrThrow } from "atoll/contract";
import { z } from "zod";
import type { FileService, FsPlace } from "../core/file-service.js";
import { DenoNotSupported } from "./deno-errors.js";
import { parseParams } from "./rpc-params.js";
import type { RpcStreams } from "./rpc-streams.js";

/** Largest file readFile/readTextFile return in one message (bigger ones: open + read). */
export const READ_FILE_MAX = 32 * 1024 * 1024;
/** Files open at once, per connection. */
const OPEN_FILES_MAX = 64;
/** One fileRead returns at most this much. */
const FILE_READ_MAX = 1024 * 1024;

const opt = <T extends z.ZodType>(t: T) => t.nullable().optional();
const path = z.string().min(1).max(4096);
const abortId = opt(z.number());
const writeOptions = opt(z.strictObject({ append: opt(z.boolean()), create: opt(z.boolean()), createNew: opt(z.boolean()), mode: opt(z.number().int()) }));
const tempOptions = opt(z.strictObject({ dir: opt(path), prefix: opt(z.string().max(200)), suffix: opt(z.string().max(200)) }));
const writeSchema = z.union([
  z.strictObject({ path, abortId, options: writeOptions, content: z.string().max(24 * 1024 * 1024) }),
  z.strictObject({ path, abortId, options: writeOptions, contentStreamId: z.number().int().nonnegative() }),
]);
const pathOnly = z.strictObject({ path });
const walkSchema = z.strictObject({
  path,
  maxDepth: opt(z.number().int()),
  includeFiles: opt(z.boolean()),
  includeDirs: opt(z.boolean()),
  includeSymlinks: opt(z.boolean()),
  followSymlinks: opt(z.boolean()),
  canonicalize: opt(z.boolean()),
  exts: opt(z.array(z.string().max(64)).max(64)),
  match: opt(z.array(z.unknown())),
  skip: opt(z.array(z.unknown())),
});
const openSchema = z.strictObject({
  path,
  options: opt(
    z.strictObject({
      read: opt(z.boolean()),
      write: opt(z.boolean()),
      append: opt(z.boolean()),
      truncate: opt(z.boolean()),
      create: opt(z.boolean()),
      createNew: opt(z.boolean()),
      mode: opt(z.number()),
    }),
  ),
});
const handleSchema = z.strictObject({ fileHandleId: z.number().int() });
const fileReadSchema = z.strictObject({ fileHandleId: z.number().int(), length: z.number().int().positive() });

const S_IFMT = 0o170000;

/** A stat result as Deno's client decodes it. */
function denoStat(s: FsFileInfo): Record<string, unknown> {
  const fmt = s.mode & S_IFMT;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    isFile: s.type === "file",
    isDirectory: s.type === "dir",
    isSymlink: s.type === "symlink",
    size: s.size,
    mtime: iso(s.mtimeMs),
    atime: iso(s.atimeMs),
    birthtime: iso(s.birthtimeMs ?? s.ctimeMs),
    ctime: iso(s.ctimeMs),
    mode: s.mode,
    dev: s.dev,
    ino: s.ino,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    rdev: s.rdev,
    blksize: s.blksize,
    blocks: s.blocks,
    isBlockDevice: fmt === 0o060000,
    isCharDevice: fmt === 0o020000,
    isFifo: fmt === 0o010000,
    isSocket: fmt === 0o140000,
  };
}

const kinds = (type: string) => ({ isFile: type === "file", isDirectory: type === "dir", isSymlink: type === "symlink" });

async function collect(data: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    n += chunk.byteLength;
    if (n > max) {
      data.destroy();
      throw new InvalidArgumentError(`The file is larger than ${max} bytes: read it with open() and read(), or download it`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export class RpcFs {
  private readonly open = new Map<number, Readable>();
  private nextHandle = 1;

  constructor(
    private readonly files: FileService,
    private readonly place: FsPlace,
    private readonly streams: RpcStreams,
    /** Stops (true) or resumes reading the client's socket while an upload's consumer is behind. */
    private readonly backpressure: (key: object, paused: boolean) => void,
  ) {}

  /** The methods, by name. */
  methods(): Record<string, (params: unknown) => Promise<unknown>> {
    const op = (req: unknown) => this.files.op(this.place, parseOrThrow(fsOpSchema, req, "file operation") as FsOp);
    const nil = async (p: Promise<unknown>) => {
      await p;
      return null;
    };
    return {
      readFile: async (p) => (await this.readAll(p)).toString("base64"),
      readTextFile: async (p) => (await this.readAll(p)).toString("utf8"),
      writeFile: (p) => this.write(p, "base64"),
      writeTextFile: (p) => this.write(p, "utf8"),
      readDir: async (p) => {
        const { path: dir } = parseParams(pathOnly, p);
        const out: unknown[] = [];
        for await (const e of await this.files.readDir(this.place, dir)) out.push({ name: e.name, ...kinds(e.type) });
        return out;
      },
      remove: (p) => {
        const q = parseParams(z.strictObject({ path, options: opt(z.strictObject({ recursive: opt(z.boolean()) })) }), p);
        return nil(op({ op: "remove", path: q.path, recursive: q.options?.recursive ?? false }));
      },
      mkdir: (p) => {
        const q = parseParams(z.strictObject({ path, options: opt(z.strictObject({ recursive: opt(z.boolean()), mode: opt(z.number().int()) })) }), p);
        return nil(
          op({ op: "mkdir", path: q.path, recursive: q.options?.recursive ?? false, ...(typeof q.options?.mode === "number" ? { mode: q.options.mode } : {}) }),
        );
      },
      rename: (p) => {
        const q = parseParams(z.strictObject({ oldPath: path, newPath: path }), p);
        return nil(op({ op: "rename", from: q.oldPath, to: q.newPath }));
      },
      copyFile: (p) => {
        const q = parseParams(z.strictObject({ fromPath: path, toPath: path }), p);
        return nil(op({ op: "copyFile", from: q.fromPath, to: q.toPath }));
      },
      stat: async (p) => denoStat((await op({ op: "stat", path: parseParams(pathOnly, p).path })) as unknown as FsFileInfo),
      lstat: async (p) => denoStat((await op({ op: "lstat", path: parseParams(pathOnly, p).path })) as unknown as FsFileInfo),
      realPath: async (p) => (await op({ op: "realPath", path: parseParams(pathOnly, p).path })).path,
      readLink: async (p) => (await op({ op: "readLink", path: parseParams(pathOnly, p).path })).target,
      chmod: (p) => nil(op({ op: "chmod", ...parseParams(z.strictObject({ path, mode: z.number().int() }), p) })),
      chown: (p) => nil(op({ op: "chown", ...parseParams(z.strictObject({ path, uid: z.number().int().nullable(), gid: z.number().int().nullable() }), p) })),
      symlink: (p) => {
        const q = parseParams(z.strictObject({ target: path, path, options: opt(z.strictObject({ type: opt(z.string()) })) }), p);
        return nil(op({ op: "symlink", target: q.target, path: q.path }));
      },
      truncate: (p) => {
        const q = parseParams(z.strictObject({ name: path, length: opt(z.number().int()) }), p);
        return nil(op({ op: "truncate", path: q.name, length: q.length ?? 0 }));
      },
      makeTempDir: (p) => this.temp("makeTempDir", p, op),
      makeTempFile: (p) => this.temp("makeTempFile", p, op),
      walk: (p) => this.walk(p),
      open: (p) => this.openFile(p),
      fileRead: (p) => this.fileRead(p),
      fileClose: async (p) => {
        const { fileHandleId } = parseParams(handleSchema, p);
        this.open.get(fileHandleId)?.destroy();
        this.open.delete(fileHandleId);
        return null;
      },
    };
  }

  /** The connection ended: close its open files. */
  close(): void {
    for (const r of this.open.values()) r.destroy();
    this.open.clear();
  }

  private async readAll(p: unknown): Promise<Buffer> {
    const q = parseParams(z.strictObject({ path, abortId }), p);
    const { size, data } = await this.files.read(this.place, q.path);
    if (size > READ_FILE_MAX) {
      data.destroy();
      throw new InvalidArgumentError(
        `${q.path} is ${size} bytes, more than readFile returns at once (${READ_FILE_MAX}): use open() and read(), or download it`,
      );
    }
    return collect(data, READ_FILE_MAX);
  }

  private async write(p: unknown, encoding: "base64" | "utf8"): Promise<null> {
    const q = parseParams(writeSchema, p);
    const o = q.options ?? {};
    const opts = { path: q.path, append: o.append ?? false, create: o.create ?? true, createNew: o.createNew ?? false, mode: o.mode ?? undefined };
    let body: Readable;
    if ("content" in q) {
      body = new PassThrough();
      (body as PassThrough).end(Buffer.from(q.content, encoding));
    } else {
      const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
      const key = {};
      pass.on("drain", () => this.backpressure(key, false));
      pass.on("close", () => this.backpressure(key, false));
      this.streams.claim(q.contentStreamId, {
        write: (data) => {
          if (!pass.write(data)) this.backpressure(key, true);
        },
        end: () => pass.end(),
        fail: (message) => pass.destroy(new InvalidArgumentError(`Upload of ${q.path} failed: ${message}`)),
      });
      body = pass;
    }
    await this.files.write(this.place, opts, body);
    return null;
  }

  private async temp(kind: "makeTempDir" | "makeTempFile", p: unknown, op: (req: unknown) => Promise<Record<string, unknown>>): Promise<unknown> {
    const o = parseParams(z.strictObject({ options: tempOptions }), p).options ?? {};
    const res = await op({ op: kind, ...(o.dir ? { dir: o.dir } : {}), prefix: o.prefix ?? "", suffix: o.suffix ?? "" });
    return res.path;
  }

  private async walk(p: unknown): Promise<{ streamId: number }> {
    const q = parseParams(walkSchema, p);
    if ((q.match && q.match.length > 0) || (q.skip && q.skip.length > 0)) throw new DenoNotSupported("walk() with match or skip");
    const entries = await this.files.walk(this.place, q.path, q.maxDepth ?? -1, q.followSymlinks ?? false);
    const streamId = this.streams.open();
    const wanted = (type: string) =>
      type === "file" ? q.includeFiles !== false : type === "dir" ? q.includeDirs !== false : type === "symlink" ? q.includeSymlinks !== false : false;
    const exts = q.exts ?? [];
    void (async () => {
      try {
        for await (const e of entries as AsyncIterable<{ path: string; name: string; type: string }>) {
          if (!wanted(e.type)) continue;
          if (exts.length > 0 && e.type === "file" && !exts.some((x) => e.name.endsWith(x.startsWith(".") ? x : `.${x}`))) continue;
          const line = Buffer.from(JSON.stringify({ path: e.path, name: e.name, ...kinds(e.type) }));
          await new Promise<void>((resolve) => this.streams.send(streamId, line, resolve));
        }
      } catch {
        // The listing failed part way (the sandbox stopped): the stream ends short.
      }
      this.streams.end(streamId);
    })();
    return { streamId };
  }

  private async openFile(p: unknown): Promise<{ fileHandleId: number }> {
    const q = parseParams(openSchema, p);
    const o = q.options ?? {};
    if (o.write || o.append || o.truncate || o.create || o.createNew) throw new DenoNotSupported("open() for writing");
    if (this.open.size >= OPEN_FILES_MAX) throw new InvalidArgumentError(`At most ${OPEN_FILES_MAX} files may be open per connection: close some`);
    const { data } = await this.files.read(this.place, q.path);
    data.pause();
    const id = this.nextHandle++;
    this.open.set(id, data);
    return { fileHandleId: id };
  }

  /** Up to `length` bytes of an open file; null at its end. */
  private async fileRead(p: unknown): Promise<{ data: string | null }> {
    const q = parseParams(fileReadSchema, p);
    const r = this.open.get(q.fileHandleId);
    if (!r) throw new InvalidArgumentError(`No open file ${q.fileHandleId}`);
    const want = Math.min(q.length, FILE_READ_MAX);
    const chunk = await new Promise<Buffer | null>((resolve, reject) => {
      const attempt = () => {
        const c = (r.read(want) as Buffer | null) ?? (r.readableEnded || r.readableLength === 0 ? null : (r.read() as Buffer | null));
        if (c !== null) return done(c);
        if (r.readableEnded || r.destroyed) return done(null);
      };
      const done = (c: Buffer | null) => {
        r.off("readable", attempt);
        r.off("end", onEnd);
        r.off("error", onError);
        resolve(c);
      };
      const onEnd = () => done(null);
      const onError = (e: Error) => {
        r.off("readable", attempt);
        r.off("end", onEnd);
        reject(e);
      };
      r.on("readable", attempt);
      r.once("end", onEnd);
      r.once("error", onError);
      attempt();
    });
    return { data: chunk === null ? null : chunk.toString("base64") };
  }
}
