/**
 * Wire types of the file API (`/v1/sandboxes/:id/fs/…` and `/v1/volumes/:id/fs/…`, see
 * docs/files.md and docs/architecture.md). Times are milliseconds since the epoch.
 */

/** What a directory entry is. Fifos, sockets and devices are "other". */
export type FsEntryType = "file" | "dir" | "symlink" | "other";

/** `stat`/`lstat` of one path (statx inside the sandbox). */
export interface FsFileInfo {
  type: FsEntryType;
  size: number;
  /** Full st_mode: type bits and permission bits (`mode & 0o7777` for the permissions). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  dev: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** null when the filesystem does not record it. */
  birthtimeMs: number | null;
}

/** One line of `GET …/fs/dir` (NDJSON). */
export interface FsDirEntryWire {
  name: string;
  type: FsEntryType;
}

/** One line of `GET …/fs/walk` (NDJSON); depth 0 is the root itself. */
export interface FsWalkEntryWire {
  path: string;
  name: string;
  type: FsEntryType;
  depth: number;
}

/** Result of `PUT …/fs/file` and of the copyFile operation. */
export interface FsWriteResult {
  bytes: number;
}

/** Result of `PUT …/fs/tar`: what was extracted. */
export interface FsTarResult {
  files: number;
  dirs: number;
  links: number;
  bytes: number;
}

/**
 * A download tar that failed part way ends with a pax global header carrying this keyword; its
 * value is `{"code","message","errno","path"}` JSON. The SDK turns it into the typed error, and
 * uploading such a tar fails the same way.
 */
export const FS_TAR_ERROR_KEY = "ATOLL.error";

/** Response header of `GET …/fs/file`: the file's size when the read started. */
export const FS_SIZE_HEADER = "x-atoll-file-size";

/** Largest path the file API accepts, in bytes (Linux PATH_MAX). */
export const FS_PATH_MAX = 4096;
