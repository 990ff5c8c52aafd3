/**
 * upload/download between the local disk and a sandbox or volume. Loaded lazily by
 * FileSystem.upload/download, so importing the SDK never loads `node:` modules (Deno and Bun
 * provide node:fs too). Directories travel as one streamed tar (tar-stream, pure JS); files as
 * raw bytes. Nothing is held in memory beyond a chunk, and every local file is written to a
 * temp name in its directory and renamed once complete.
 *
 * The tar of a download comes from a sandbox, so it is untrusted: entry names may not climb
 * with "..", and no entry may be written through a symlink or over a non-directory on the
 * way (each directory on the way is checked with lstat once). Downloaded files never keep
 * setuid, setgid or sticky bits (a root client would otherwise get a root-owned setuid program
 * with sandbox-chosen contents), and devices, fifos and hard links are not recreated.
 */
import type { Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import * as nodeFs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { AtollError, InvalidArgumentError, FS_TAR_ERROR_KEY, fsErrorFromErrno, parseErrnoReport } from "./contract/index.js";
import type { FileSystem } from "./file-system.js";
import type { TransferOptions, TransferProgress, TransferSummary } from "./fs-types.js";

type Progress = TransferProgress;

/** Permission bits a downloaded file keeps: rwx for owner, group, others; never setuid/setgid/sticky. */
const DOWNLOAD_MODE_MASK = 0o777;

/** A web ReadableStream over an async iterable of bytes. */
function toWebStream(iterable: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = iterable[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer));
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}

/** Reads a local file's first `size` bytes (zero-filled if it shrank), reporting each chunk. */
async function* fileChunks(file: string, size: number, onChunk: (n: number) => void): AsyncGenerator<Uint8Array> {
  let sent = 0;
  if (size > 0) {
    for await (const chunk of nodeFs.createReadStream(file, { start: 0, end: size - 1, highWaterMark: 256 * 1024 })) {
      const bytes = chunk as Buffer;
      sent += bytes.byteLength;
      onChunk(bytes.byteLength);
      yield bytes;
    }
  }
  if (sent < size) yield new Uint8Array(size - sent);
}

interface LocalEntry {
  rel: string;
  abs: string;
  st: Stats;
}

/** Every entry under `root` (not following symlinks), parents before children. */
async function scan(root: string): Promise<LocalEntry[]> {
  const out: LocalEntry[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const names = (await fsp.readdir(abs)).sort();
    for (const name of names) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(childAbs);
      if (st.isDirectory() || st.isFile() || st.isSymbolicLink()) out.push({ rel: childRel, abs: childAbs, st });
      if (st.isDirectory()) await visit(childAbs, childRel);
    }
  };
  await visit(root, "");
  return out;
}

function waitDrain(stream: { once(event: "drain", fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => stream.once("drain", resolve));
}

export async function uploadPath(fs: FileSystem, localPath: string, remotePath: string, options: TransferOptions): Promise<TransferSummary> {
  const { onProgress, signal } = options;
  const st = await fsp.stat(localPath);
  if (st.isFile()) {
    const p: Progress = { bytes: 0, totalBytes: st.size, files: 0, totalFiles: 1, path: remotePath };
    const body = toWebStream(
      fileChunks(localPath, st.size, (n) => {
        p.bytes += n;
        onProgress?.({ ...p });
      }),
    );
    const r = await fs.writeFileWithResult(remotePath, body, { mode: st.mode & 0o777, ...(signal ? { signal } : {}) });
    p.files = 1;
    onProgress?.({ ...p });
    return { files: 1, directories: 0, bytes: r.bytes };
  }
  if (!st.isDirectory()) throw new InvalidArgumentError(`${localPath} is neither a file nor a directory`);
  const target = await directoryUploadTarget(fs, localPath, remotePath);

  const entries = await scan(localPath);
  const files = entries.filter((e) => !e.st.isDirectory());
  const p: Progress = {
    bytes: 0,
    totalBytes: files.reduce((n, e) => n + (e.st.isFile() ? e.st.size : 0), 0),
    files: 0,
    totalFiles: files.length,
    path: "",
  };
  const tar = await import("tar-stream");
  const pack = tar.pack();
  const produce = async () => {
    try {
      const add = (header: Parameters<typeof pack.entry>[0], content?: AsyncIterable<Uint8Array>) =>
        new Promise<void>((resolve, reject) => {
          const entry = pack.entry(header, (err?: Error | null) => (err ? reject(err) : resolve()));
          if (!content) return void entry.end(undefined);
          void (async () => {
            try {
              for await (const chunk of content) if (!entry.write(chunk)) await waitDrain(entry);
              entry.end(undefined);
            } catch (err) {
              entry.destroy(err as Error);
              reject(err);
            }
          })();
        });
      await add({ name: "./", type: "directory", mode: st.mode & 0o7777, mtime: st.mtime });
      for (const e of entries) {
        if (signal?.aborted) throw signal.reason;
        p.path = e.rel;
        const base = { name: e.rel, mode: e.st.mode & 0o7777, mtime: e.st.mtime };
        if (e.st.isDirectory()) await add({ ...base, name: `${e.rel}/`, type: "directory" });
        else if (e.st.isSymbolicLink()) await add({ ...base, type: "symlink", linkname: await fsp.readlink(e.abs) });
        else {
          await add(
            { ...base, type: "file", size: e.st.size },
            fileChunks(e.abs, e.st.size, (n) => {
              p.bytes += n;
              onProgress?.({ ...p });
            }),
          );
        }
        if (!e.st.isDirectory()) {
          p.files += 1;
          onProgress?.({ ...p });
        }
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  };
  const producing = produce();
  try {
    const r = await fs.importTar(target, toWebStream(pack as unknown as AsyncIterable<Uint8Array>), signal ? { signal } : {});
    return { files: r.files + r.links, directories: r.dirs, bytes: r.bytes };
  } finally {
    pack.destroy();
    await producing;
  }
}

/**
 * Where a directory upload goes, as in Deno Sandbox: into an existing directory `remotePath`
 * under the local directory's own name (`upload("./site", ".")` makes `./site`), else to
 * `remotePath` itself. An existing copy there is merged into.
 */
async function directoryUploadTarget(fs: FileSystem, localPath: string, remotePath: string): Promise<string> {
  const existing = await fs.stat(remotePath).catch((e: unknown) => {
    if (e instanceof AtollError && e.code === "NOT_FOUND") return null;
    throw e;
  });
  if (!existing?.isDirectory) return remotePath;
  return path.posix.join(remotePath, path.basename(path.resolve(localPath)));
}

/** Writes a stream to `file` through a temp file in the same directory, renamed when complete. */
async function writeAtomically(
  file: string,
  chunks: AsyncIterable<Uint8Array>,
  mode: number,
  mtime: Date | null,
  onChunk: (n: number) => void,
): Promise<number> {
  const tmp = path.join(path.dirname(file), `.atoll-tmp-${randomBytes(6).toString("hex")}`);
  const handle = await fsp.open(tmp, "wx", 0o600);
  let total = 0;
  try {
    try {
      for await (const chunk of chunks) {
        let off = 0;
        while (off < chunk.byteLength) off += (await handle.write(chunk, off, chunk.byteLength - off)).bytesWritten;
        total += chunk.byteLength;
        onChunk(chunk.byteLength);
      }
      await handle.chmod(mode);
      if (mtime) await handle.utimes(mtime, mtime);
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return total;
}

/** Normalised relative name of a tar entry; throws for names that climb out. */
function entryName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new InvalidArgumentError(`The download contains an entry that climbs out of its directory: ${name}`);
    parts.push(part);
  }
  return parts.join("/");
}

export async function downloadPath(fs: FileSystem, remotePath: string, localPath: string, options: TransferOptions): Promise<TransferSummary> {
  const { onProgress, signal } = options;
  const info = await fs.stat(remotePath);
  if (info.isFile) {
    const p: Progress = { bytes: 0, totalBytes: info.size, files: 0, totalFiles: 1, path: remotePath };
    const stream = await fs.readFileStream(remotePath, signal ? { signal } : {});
    const bytes = await writeAtomically(localPath, stream as unknown as AsyncIterable<Uint8Array>, info.mode & DOWNLOAD_MODE_MASK, info.mtime, (n) => {
      p.bytes += n;
      onProgress?.({ ...p });
    });
    p.files = 1;
    onProgress?.({ ...p });
    return { files: 1, directories: 0, bytes };
  }
  if (!info.isDirectory) throw new InvalidArgumentError(`${remotePath} is neither a file nor a directory`);

  await fsp.mkdir(localPath, { recursive: true });
  const root = await fsp.realpath(localPath);
  const verified = new Set<string>([""]);
  /** The local directory for relative dir `rel`, created if missing, never through a symlink. */
  const ensureDir = async (rel: string): Promise<string> => {
    const parts = rel ? rel.split("/") : [];
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      if (verified.has(sub)) continue;
      const abs = path.join(root, sub);
      const st = await fsp.lstat(abs).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? null : Promise.reject(e)));
      if (!st) await fsp.mkdir(abs);
      else if (!st.isDirectory())
        throw new InvalidArgumentError(`Cannot download into ${abs}: it is a ${st.isSymbolicLink() ? "symlink" : "file"}, not a directory`);
      verified.add(sub);
    }
    return path.join(root, rel);
  };

  const p: Progress = { bytes: 0, totalBytes: null, files: 0, totalFiles: null, path: "" };
  const summary: TransferSummary = { files: 0, directories: 0, bytes: 0 };
  const tar = await import("tar-stream");
  const extract = tar.extract();
  const body = await fs.exportTar(remotePath, signal ? { signal } : {});
  const feed = (async () => {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!extract.write(value)) await waitDrain(extract as unknown as { once(e: "drain", f: () => void): unknown });
      }
      extract.end(undefined);
    } catch (err) {
      extract.destroy(err as Error);
    }
  })();
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const pax = (h as { pax?: Record<string, string> | null }).pax;
      if (pax?.[FS_TAR_ERROR_KEY]) throw fsErrorFromErrno(parseErrnoReport(pax[FS_TAR_ERROR_KEY]));
      const rel = entryName(h.name);
      p.path = rel;
      if (h.type === "directory") {
        await ensureDir(rel);
        if (rel) summary.directories += 1;
        entry.resume();
        continue;
      }
      if (!rel) throw new InvalidArgumentError(`The download contains a ${h.type} entry without a name`);
      const dir = await ensureDir(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
      const target = path.join(dir, path.posix.basename(rel));
      if (h.type === "file" || h.type === "contiguous-file") {
        await writeAtomically(target, entry as unknown as AsyncIterable<Uint8Array>, (h.mode ?? 0o644) & DOWNLOAD_MODE_MASK, h.mtime ?? null, (n) => {
          p.bytes += n;
          summary.bytes += n;
          onProgress?.({ ...p });
        });
      } else if (h.type === "symlink" && h.linkname) {
        const tmp = path.join(dir, `.atoll-tmp-${randomBytes(6).toString("hex")}`);
        await fsp.symlink(h.linkname, tmp);
        await fsp.rename(tmp, target).catch(async (err: unknown) => {
          await fsp.rm(tmp, { force: true });
          throw err;
        });
        verified.delete(rel);
        entry.resume();
      } else {
        entry.resume(); // hard links, devices, fifos: not recreated locally
        continue;
      }
      summary.files += 1;
      p.files += 1;
      onProgress?.({ ...p });
    }
  } finally {
    await body.cancel().catch(() => undefined);
    await feed;
  }
  return summary;
}
