/**
 * The in-memory file system behind FakeFiles (fake-files.ts): one tree per volume or sandbox,
 * with the path resolution of a process chrooted at its root (`..` stops there, absolute
 * symlinks start there, at most 40 links) and the errno each call gets on Linux.
 */
import { ERRNO } from "atoll/contract";

export type FsNode =
  | { kind: "dir"; mode: number; ino: number; mtimeMs: number; entries: Map<string, FsNode> }
  | { kind: "file"; mode: number; ino: number; mtimeMs: number; data: Buffer }
  | { kind: "symlink"; mode: number; ino: number; mtimeMs: number; target: string };
export type DirNode = Extract<FsNode, { kind: "dir" }>;

/** A failed call: what the helper reports in its X record. */
export class ErrnoError extends Error {
  constructor(
    readonly errno: number,
    readonly syscall: string,
    readonly path: string,
  ) {
    super(`${syscall} ${path}: errno ${errno}`);
  }
}

/** Where a path leads: its parent directory, its last name, and the node if it exists. */
export interface Lookup {
  parent: DirNode;
  name: string;
  node: FsNode | undefined;
}

const MAX_LINKS = 40;
const parts = (p: string) => p.split("/").filter((c) => c !== "" && c !== ".");

export class FakeFsTree {
  private nextIno = 2;
  readonly root: DirNode;

  constructor(
    /** Every change fails with EROFS. */
    readonly readOnly = false,
    /** Bytes of file data the tree holds at most (ENOSPC past it). */
    readonly capacityBytes = Number.POSITIVE_INFINITY,
    /** The uid/gid files show (the acting user). */
    readonly uid = 1000,
  ) {
    this.root = this.dir(0o755);
  }

  dir(mode: number): DirNode {
    return { kind: "dir", mode: mode & 0o7777, ino: this.nextIno++, mtimeMs: Date.now(), entries: new Map() };
  }

  file(mode: number, data: Buffer): FsNode {
    return { kind: "file", mode: mode & 0o7777, ino: this.nextIno++, mtimeMs: Date.now(), data };
  }

  symlink(target: string): FsNode {
    return { kind: "symlink", mode: 0o777, ino: this.nextIno++, mtimeMs: Date.now(), target };
  }

  /** Resolves `path` (the last component's symlink only when `follow`); throws ENOENT/ENOTDIR/ELOOP. */
  lookup(path: string, follow: boolean, syscall: string): Lookup {
    const fail = (errno: number) => new ErrnoError(errno, syscall, path);
    let todo = path.split("/");
    let stack: DirNode[] = [this.root];
    let hops = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack.at(-1)!;
      const node = dir.entries.get(c);
      const last = parts(todo.join("/")).length === 0 && !todo.includes("..");
      if (node?.kind === "symlink" && (!last || follow)) {
        if (++hops > MAX_LINKS) throw fail(ERRNO.ELOOP);
        if (node.target.startsWith("/")) stack = [this.root];
        todo = [...node.target.split("/"), ...todo];
        continue;
      }
      if (last) return { parent: dir, name: c, node };
      if (!node) throw fail(ERRNO.ENOENT);
      if (node.kind !== "dir") throw fail(ERRNO.ENOTDIR);
      stack.push(node);
    }
    return { parent: stack.at(-2) ?? this.root, name: ".", node: stack.at(-1)! };
  }

  /** The node at `path`; ENOENT when there is none. */
  existing(path: string, follow: boolean, syscall: string): FsNode {
    const { node } = this.lookup(path, follow, syscall);
    if (!node) throw new ErrnoError(ERRNO.ENOENT, syscall, path);
    return node;
  }

  /** Fails with EROFS on a read-only tree. */
  writable(syscall: string, path: string): void {
    if (this.readOnly) throw new ErrnoError(ERRNO.EROFS, syscall, path);
  }

  /** Bytes of file data held. */
  usedBytes(): number {
    let used = 0;
    const walk = (d: DirNode) => {
      for (const n of d.entries.values()) {
        if (n.kind === "file") used += n.data.length;
        else if (n.kind === "dir") walk(n);
      }
    };
    walk(this.root);
    return used;
  }

  /** ENOSPC unless `bytes` more fit. */
  reserve(bytes: number, syscall: string, path: string): void {
    if (this.usedBytes() + bytes > this.capacityBytes) throw new ErrnoError(ERRNO.ENOSPC, syscall, path);
  }

  /** Adds `node` as the new entry `path` (EEXIST if taken); returns it. */
  create<T extends FsNode>(path: string, node: T, syscall: string): T {
    this.writable(syscall, path);
    const at = this.lookup(path, false, syscall);
    if (at.node || at.name === ".") throw new ErrnoError(ERRNO.EEXIST, syscall, path);
    at.parent.entries.set(at.name, node);
    return node;
  }

  /** mkdir, or mkdir -p when `recursive` (existing directories are fine then). */
  mkdir(path: string, mode: number, recursive: boolean): DirNode {
    if (!recursive) return this.create(path, this.dir(mode), "mkdir");
    const names = parts(path);
    let made: FsNode = this.root;
    for (let i = 1; i <= names.length; i++) {
      const prefix = `${path.startsWith("/") ? "/" : ""}${names.slice(0, i).join("/")}`;
      const at = this.lookup(prefix, true, "mkdir");
      made = at.node ?? this.create(prefix, this.dir(mode), "mkdir");
    }
    if (made.kind !== "dir") throw new ErrnoError(ERRNO.EEXIST, "mkdir", path);
    return made;
  }

  /** unlink/rmdir, or rm -r when `recursive` (never follows the last link). */
  remove(path: string, recursive: boolean): void {
    const at = this.lookup(path, false, "lstat");
    if (!at.node) throw new ErrnoError(ERRNO.ENOENT, "lstat", path);
    if (at.name === ".") throw new ErrnoError(ERRNO.EBUSY, "rmdir", path);
    if (at.node.kind === "dir" && at.node.entries.size > 0 && !recursive) throw new ErrnoError(ERRNO.ENOTEMPTY, "rmdir", path);
    this.writable(at.node.kind === "dir" ? "rmdir" : "unlink", path);
    at.parent.entries.delete(at.name);
  }

  /** The helper's FileInfo JSON of `node`. */
  info(node: FsNode): Record<string, unknown> {
    const size = node.kind === "file" ? node.data.length : node.kind === "symlink" ? Buffer.byteLength(node.target) : 4096;
    const type = { dir: [0o040000, "dir"], file: [0o100000, "file"], symlink: [0o120000, "symlink"] }[node.kind];
    const t = node.mtimeMs;
    return {
      type: type[1],
      size,
      mode: (type[0] as number) | node.mode,
      uid: this.uid,
      gid: this.uid,
      nlink: node.kind === "dir" ? 2 : 1,
      ino: node.ino,
      dev: 0,
      rdev: 0,
      blksize: 4096,
      blocks: Math.ceil(size / 4096) * 8,
      atimeMs: t,
      mtimeMs: t,
      ctimeMs: t,
      birthtimeMs: t,
    };
  }
}
