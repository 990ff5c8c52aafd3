/** Public types of `sandbox.fs` and `volume.fs` (modelled on Deno's file system API). */
import type { FsEntryType, FsFileInfo } from "./contract/index.js";

/**
 * What `stat`/`lstat` return.
 *
 * @example const info = await sandbox.fs.stat("notes.txt"); if (info.isFile) console.log(info.size, info.mtime);
 */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  size: number;
  mtime: Date | null;
  atime: Date | null;
  ctime: Date | null;
  birthtime: Date | null;
  /** Raw st_mode (type and permission bits); `mode & 0o777` are the permissions. */
  mode: number;
  uid: number;
  gid: number;
  dev: number;
  ino: number;
  nlink: number;
  rdev: number;
  blksize: number;
  blocks: number;
}

/**
 * One entry of `readDir`.
 *
 * @example for await (const e of sandbox.fs.readDir("/home/app")) if (e.isDirectory) console.log(e.name);
 */
export interface DirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

/**
 * One entry of `walk` and `expandGlob`: a DirEntry with its absolute path.
 *
 * @example for await (const e of sandbox.fs.walk("src")) console.log(e.path);
 */
export interface WalkEntry extends DirEntry {
  path: string;
}

/**
 * Options of `writeFile`/`writeTextFile`.
 *
 * @example await sandbox.fs.writeTextFile("log.txt", "line\n", { append: true });
 */
export interface WriteFileOptions {
  /** Append instead of replacing (in place; rolled back to the old size if the write fails). */
  append?: boolean;
  /** Create the file if it is missing (default true). */
  create?: boolean;
  /** Fail with ALREADY_EXISTS if the file exists. */
  createNew?: boolean;
  /** Permission bits, e.g. 0o600; default: the replaced file's mode, or 0o644 for a new file. */
  mode?: number;
  signal?: AbortSignal;
}

/** @example await sandbox.fs.mkdir("a/b/c", { recursive: true }); */
export interface MkdirOptions {
  recursive?: boolean;
  /** Permission bits before the umask (022), default 0o777. */
  mode?: number;
}

/** @example await sandbox.fs.remove("build", { recursive: true }); */
export interface RemoveOptions {
  recursive?: boolean;
}

/** @example const dir = await sandbox.fs.makeTempDir({ prefix: "job-" }); */
export interface MakeTempOptions {
  /** Directory to create it in: default /tmp in a sandbox, the root of a volume. */
  dir?: string;
  prefix?: string;
  suffix?: string;
}

/**
 * Options of `walk` (as in Deno's std/fs walk). Filtering happens in the SDK.
 *
 * @example for await (const e of sandbox.fs.walk(".", { exts: [".ts"], skip: [/node_modules/] })) console.log(e.path);
 */
export interface WalkOptions {
  /** Default Infinity. 0 yields only the root. */
  maxDepth?: number;
  includeFiles?: boolean;
  includeDirs?: boolean;
  includeSymlinks?: boolean;
  /** Follow symlinks to directories (loops are not followed twice). */
  followSymlinks?: boolean;
  /** Only files with one of these extensions (".ts" or "ts"). */
  exts?: string[];
  /** Only paths matching one of these. */
  match?: RegExp[];
  /** Leave out paths matching any of these (and everything under such directories). */
  skip?: RegExp[];
}

/**
 * Options of `expandGlob`.
 *
 * @example for await (const f of sandbox.fs.expandGlob("src/**\/*.ts")) console.log(f.path);
 */
export interface ExpandGlobOptions {
  /** Directory relative globs start from: default /home/app (sandbox) or / (volume). */
  root?: string;
  /** Globs of paths to leave out. */
  exclude?: string[];
  /** Default true. */
  includeDirs?: boolean;
  followSymlinks?: boolean;
  caseInsensitive?: boolean;
}

/**
 * Progress of an upload or download, reported as bytes and files move.
 *
 * @example await sandbox.fs.upload("./site", "site", { onProgress: (p) => console.log(`${p.bytes}/${p.totalBytes}`) });
 */
export interface TransferProgress {
  /** File content bytes moved so far. */
  bytes: number;
  /** Total file content bytes, when known up front. */
  totalBytes: number | null;
  /** Files (and links) done so far. */
  files: number;
  totalFiles: number | null;
  /** The path being transferred right now. */
  path: string;
}

/** @example await sandbox.fs.download("out", "./out", { onProgress: console.log }); */
export interface TransferOptions {
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

/** What an upload or download moved. @example const { files, bytes } = await sandbox.fs.upload("a", "a"); */
export interface TransferSummary {
  files: number;
  directories: number;
  bytes: number;
}

/** Wire entry type → the DirEntry flags. */
export function entryFlags(type: FsEntryType): Pick<DirEntry, "isFile" | "isDirectory" | "isSymlink"> {
  return { isFile: type === "file", isDirectory: type === "dir", isSymlink: type === "symlink" };
}

/** Wire FsFileInfo → FileInfo. */
export function toFileInfo(w: FsFileInfo): FileInfo {
  const date = (ms: number | null | undefined) => (typeof ms === "number" ? new Date(ms) : null);
  return {
    ...entryFlags(w.type),
    size: w.size,
    mtime: date(w.mtimeMs),
    atime: date(w.atimeMs),
    ctime: date(w.ctimeMs),
    birthtime: date(w.birthtimeMs),
    mode: w.mode,
    uid: w.uid,
    gid: w.gid,
    dev: w.dev,
    ino: w.ino,
    nlink: w.nlink,
    rdev: w.rdev,
    blksize: w.blksize,
    blocks: w.blocks,
  };
}
