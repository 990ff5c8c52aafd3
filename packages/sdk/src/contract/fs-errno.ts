/**
 * Linux errno values a file operation can report (asm-generic numbering, as on x86_64 and
 * arm64) and the typed error each one becomes. The daemon uses this for the helper's errors and
 * the SDK for an error carried inside a download's tar stream, so both say the same thing.
 */
import { type AtollError, FileSystemError, InvalidArgumentError, NotFoundError, ServerError } from "./errors.js";

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EPROTO: 71,
  EDQUOT: 122,
  ECANCELED: 125,
} as const;

const NAMES = new Map<number, string>(Object.entries(ERRNO).map(([k, v]) => [v, k]));

/** A failure as the helper reports it: the errno of a system call on a path. */
export interface FsErrnoReport {
  errno: number;
  syscall: string;
  path: string;
  message?: string;
  /** With ENOSPC: the filesystem had no free inode left (statfs), rather than no free block. */
  outOfInodes?: boolean;
}

/** "ENOENT" for 2. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}

/**
 * The typed error for a failed file operation. `who` names the acting user for permission
 * messages, e.g. `user "app" in sandbox sbx_1`.
 *
 * @example fsErrorFromErrno({ errno: 2, syscall: "open", path: "/x" }).code === "NOT_FOUND"
 */
export function fsErrorFromErrno(x: FsErrnoReport, who = "the sandbox user"): AtollError {
  const path = x.path || "(unknown path)";
  const details = { path, errno: errnoName(x.errno), syscall: x.syscall };
  const fse = (code: ConstructorParameters<typeof FileSystemError>[0], message: string) => new FileSystemError(code, message, details);
  switch (x.errno) {
    case ERRNO.ENOENT:
      return new NotFoundError(
        "NOT_FOUND",
        `No such file or directory: ${path}. Check the path (relative paths start at /home/app in a sandbox, at the root of a volume).`,
        details,
      );
    case ERRNO.EEXIST:
      return fse("ALREADY_EXISTS", `${path} already exists. Remove it first, or write without createNew.`);
    case ERRNO.EACCES:
    case ERRNO.EPERM:
      return fse("PERMISSION_DENIED", `Permission denied: ${who} may not ${x.syscall} ${path}. Change its mode or owner, or act as root.`);
    case ERRNO.EROFS:
      return fse("READ_ONLY", `${path} is on a read-only mount: nothing can be written there. Mount the volume "rw" to write to it.`);
    case ERRNO.ENOSPC:
    case ERRNO.EDQUOT:
    case ERRNO.EFBIG:
      if (x.outOfInodes) {
        return new FileSystemError(
          "NO_SPACE",
          `Out of inodes for ${path}: the filesystem (volume or sandbox disk) holds as many files, directories and symlinks as it can, though it may have bytes free. ` +
            "Remove files you no longer need, or move them to a bigger volume (one made by this version holds 262,144 files in its first GiB and 65,536 per GiB beyond); nothing was left half-written.",
          { ...details, outOfInodes: true },
        );
      }
      return fse(
        "NO_SPACE",
        `No space left for ${path}: the filesystem (volume or sandbox disk) is full. Free space or use a bigger volume; nothing was left half-written.`,
      );
    case ERRNO.EISDIR:
      return fse("IS_A_DIRECTORY", `${path} is a directory; this operation needs a file.`);
    case ERRNO.ENOTDIR:
      return fse("NOT_A_DIRECTORY", `${path} (or a directory on the way to it) is not a directory.`);
    case ERRNO.ENOTEMPTY:
      return fse("DIRECTORY_NOT_EMPTY", `${path} is a directory that is not empty; remove it with { recursive: true }.`);
    case ERRNO.ELOOP:
      return new InvalidArgumentError(`Too many levels of symbolic links at ${path}.`, details);
    case ERRNO.ENAMETOOLONG:
      return new InvalidArgumentError(`The path ${path} (or one of its names) is too long.`, details);
    case ERRNO.EXDEV:
      return new InvalidArgumentError(
        `Cannot ${x.syscall} ${path} across mounts (a volume and the sandbox disk are different filesystems); copy it instead.`,
        details,
      );
    case ERRNO.EBUSY:
    case ERRNO.ETXTBSY:
      return new InvalidArgumentError(`${path} is busy (a mount point, or in use) and cannot be changed this way.`, details);
    case ERRNO.EPROTO:
    case ERRNO.EINVAL:
      return new InvalidArgumentError(`${x.message ?? "Invalid argument"}${x.path ? `: ${x.path}` : ""}`, details);
    case ERRNO.ECANCELED:
      return new InvalidArgumentError(`The transfer to ${path} was interrupted before it completed; nothing was left half-written under its name.`, details);
    default:
      return new ServerError("HOST_ERROR", `${x.syscall} ${path} failed: ${x.message ?? errnoName(x.errno)}`, details);
  }
}

/** Parses an error report (the helper's X record, or a tar's ATOLL.error value). */
export function parseErrnoReport(text: string): FsErrnoReport {
  try {
    const v = JSON.parse(text) as Partial<FsErrnoReport>;
    if (typeof v.errno === "number" && typeof v.syscall === "string" && typeof v.path === "string") {
      return {
        errno: v.errno,
        syscall: v.syscall,
        path: v.path,
        ...(typeof v.message === "string" ? { message: v.message } : {}),
        ...(v.outOfInodes === true ? { outOfInodes: true } : {}),
      };
    }
  } catch {
    /* fall through */
  }
  return { errno: ERRNO.EIO, syscall: "helper", path: "", message: "malformed error report" };
}
