/**
 * Applies one image layer (a tar stream) onto a root filesystem tree with OCI semantics:
 * `.wh.NAME` removes NAME of lower layers, `.wh..wh..opq` empties a directory of what lower
 * layers put there, a later entry replaces an earlier one (a file is unlinked first, so a
 * hard-linked sibling keeps its content). Regular files, directories, symlinks and hard links
 * are made with their mode, numeric owner and mtime; device nodes and FIFOs are skipped and
 * counted (bwrap gives every sandbox its own /dev). Every path goes through `SafeTree`, so no
 * entry lands outside the target or writes through a symlink.
 */
import { constants } from "node:fs";
import { chmod, lchown, link, lutimes, mkdir, open, readdir, rm, symlink, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { AtollError } from "atoll/contract";
import { extract, type Header } from "tar-stream";
import { badImage, entryComponents, lstatOrNull, type SafeTree } from "./oci-paths.js";
import { keepRawXattrs, setXattrs, xattrsOf } from "./oci-xattrs.js";

/** Highest uid/gid an entry may have: sandboxes map ids 0..65535 only. */
export const MAX_IMAGE_ID = 65535;
const MAX_LINK_TARGET_BYTES = 4095;
const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** Limits and tallies shared by all layers of one unpack. */
export interface UnpackBudget {
  maxBytes: number;
  maxEntries: number;
  bytesWritten: number;
  entries: number;
  /** Entries not made (devices, FIFOs) and extended attributes not applied (oci-xattrs.ts). */
  skipped: { devices: number; fifos: number; xattrs: number };
}

/** How to write entries. */
export interface ApplyOptions {
  /** Set owners from the archive (needs root); false keeps the caller's (unit tests). */
  ownership: boolean;
}

const fileFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function idOf(header: Header, key: "uid" | "gid", name: string): number {
  const pax = header.pax as Record<string, string> | null | undefined;
  const raw = pax?.[key] !== undefined ? Number(pax[key]) : header[key];
  if (!Number.isSafeInteger(raw) || raw < 0 || raw > MAX_IMAGE_ID) {
    throw badImage(`entry ${JSON.stringify(name)} is owned by ${key} ${raw}; sandboxes map ids 0..${MAX_IMAGE_ID} only`);
  }
  return raw;
}

/** Applies a layer's entries from `tar` onto `tree`; returns when the layer is done. */
export async function applyLayer(tar: Readable, tree: SafeTree, budget: UnpackBudget, options: ApplyOptions): Promise<void> {
  const ex = extract();
  keepRawXattrs(ex);
  tar.on("error", (e) => ex.destroy(e));
  tar.pipe(ex);
  // What this layer made: an opaque marker or whiteout only removes what lower layers made.
  const ours = new Set<string>();
  try {
    for await (const entry of ex) {
      budget.entries += 1;
      if (budget.entries > budget.maxEntries) throw badImage(`more than ${budget.maxEntries} entries`);
      await applyEntry(entry.header, entry as unknown as EntryBody, tree, budget, options, ours);
    }
  } catch (error) {
    tar.destroy();
    // Ours (refusals, limits) and the host's (a syscall failed: unpackOciArchive reports it as
    // the daemon's) go out as they are; anything else came from the tar parser.
    if (error instanceof AtollError || (error as NodeJS.ErrnoException).syscall !== undefined) throw error;
    throw badImage(`a layer is not a readable tar: ${(error as Error).message}`);
  }
}

/** What of an entry's stream the applier uses (tar-stream's streamx Readable). */
type EntryBody = AsyncIterable<Buffer> & { resume(): unknown };

async function applyEntry(h: Header, body: EntryBody, tree: SafeTree, budget: UnpackBudget, options: ApplyOptions, ours: Set<string>): Promise<void> {
  const name = h.name;
  const parts = entryComponents(name);
  const base = parts[parts.length - 1] ?? "";
  if (base.startsWith(WHITEOUT)) {
    body.resume();
    await whiteout(parts, name, tree, ours);
    return;
  }
  const rel = parts.join("/");
  if (h.type === "block-device" || h.type === "character-device" || h.type === "fifo") {
    body.resume();
    if (h.type === "fifo") budget.skipped.fifos += 1;
    else budget.skipped.devices += 1;
    return;
  }
  const uid = idOf(h, "uid", name);
  const gid = idOf(h, "gid", name);
  const mode = h.mode & 0o7777;
  const onCreate = (r: string): void => void ours.add(r);
  const xattrs = xattrsOf(h);
  budget.skipped.xattrs += xattrs.skipped;
  if (parts.length === 0) {
    // "./": the root directory itself.
    body.resume();
    if (h.type !== "directory") throw badImage(`entry ${JSON.stringify(name)} names the root as a ${h.type}`);
    await setMeta(tree.root, uid, gid, mode, h.mtime, options);
    return;
  }
  const parent = await tree.directory(parts.slice(0, -1), name, true, onCreate);
  const path = join(parent as string, base);
  ours.add(rel);
  const existing = await lstatOrNull(path);
  switch (h.type) {
    case "directory": {
      body.resume();
      if (existing !== null && !existing.isDirectory()) {
        await unlink(path);
        tree.forget();
      }
      if (existing === null || !existing.isDirectory()) await mkdir(path, { mode: 0o700 });
      await setMeta(path, uid, gid, mode, h.mtime, options);
      await setXattrs(path, xattrs.apply);
      return;
    }
    case "file":
    case "contiguous-file": {
      if (budget.bytesWritten + h.size > budget.maxBytes) {
        throw new AtollError("PAYLOAD_TOO_LARGE", `image archive: the image is larger than the ${budget.maxBytes} bytes allowed (at ${JSON.stringify(name)})`);
      }
      await removeExisting(path, existing, tree);
      const fh = await open(path, fileFlags, 0o600);
      try {
        for await (const chunk of body) {
          budget.bytesWritten += chunk.length;
          await fh.write(chunk);
        }
        if (options.ownership) await fh.chown(uid, gid);
        await fh.chmod(mode);
        await setXattrs(path, xattrs.apply); // after chown, which drops security.capability
        await fh.utimes(h.mtime ?? new Date(0), h.mtime ?? new Date(0));
      } finally {
        await fh.close();
      }
      return;
    }
    case "symlink": {
      body.resume();
      const target = h.linkname ?? "";
      if (target === "" || target.includes("\0") || Buffer.byteLength(target) > MAX_LINK_TARGET_BYTES) {
        throw badImage(`symlink ${JSON.stringify(name)} has an empty, NUL-bearing or over-long target`);
      }
      await removeExisting(path, existing, tree);
      await symlink(target, path);
      if (options.ownership) await lchown(path, uid, gid);
      await lutimes(path, h.mtime ?? new Date(0), h.mtime ?? new Date(0));
      return;
    }
    case "link": {
      body.resume();
      const targetParts = entryComponents(h.linkname ?? "", "hard link target");
      if (targetParts.length === 0) throw badImage(`hard link ${JSON.stringify(name)} points at the root`);
      const targetDir = await tree.directory(targetParts.slice(0, -1), name, false);
      const source = targetDir === null ? null : join(targetDir, targetParts[targetParts.length - 1] as string);
      const st = source === null ? null : await lstatOrNull(source);
      if (source === null || st === null) throw badImage(`hard link ${JSON.stringify(name)} points at ${JSON.stringify(h.linkname)}, which does not exist`);
      if (st.isDirectory()) throw badImage(`hard link ${JSON.stringify(name)} points at the directory ${JSON.stringify(h.linkname)}`);
      if (source === path) return;
      await removeExisting(path, existing, tree);
      if ((await lstatOrNull(source)) === null) throw badImage(`hard link ${JSON.stringify(name)} points at ${JSON.stringify(h.linkname)}, which it replaces`);
      await link(source, path);
      return;
    }
    default:
      body.resume();
      throw badImage(`entry ${JSON.stringify(name)} has a type this unpacker does not know (${String(h.type)})`);
  }
}

async function setMeta(path: string, uid: number, gid: number, mode: number, mtime: Date | undefined, options: ApplyOptions): Promise<void> {
  if (options.ownership) await lchown(path, uid, gid);
  await chmod(path, mode); // after chown, which clears setuid/setgid
  await utimes(path, mtime ?? new Date(0), mtime ?? new Date(0));
}

/** Removes whatever is at `path` (a directory with all it holds) before something replaces it. */
async function removeExisting(path: string, existing: Awaited<ReturnType<typeof lstatOrNull>>, tree: SafeTree): Promise<void> {
  if (existing === null) return;
  if (existing.isDirectory()) await rm(path, { recursive: true, force: true });
  else await unlink(path);
  tree.forget();
}

async function whiteout(parts: string[], name: string, tree: SafeTree, ours: Set<string>): Promise<void> {
  const base = parts[parts.length - 1] as string;
  const dirParts = parts.slice(0, -1);
  if (base === OPAQUE) {
    const dir = await tree.directory(dirParts, name, true, (r) => void ours.add(r));
    await emptyOpaque(dir as string, dirParts.join("/"), ours);
    tree.forget();
    return;
  }
  if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other AUFS metadata: nothing to apply
  const victim = base.slice(WHITEOUT.length);
  if (victim === "" || victim === "." || victim === "..") throw badImage(`whiteout ${JSON.stringify(name)} names no file`);
  const rel = [...dirParts, victim].join("/");
  if (ours.has(rel)) return; // made by this same layer: a whiteout hides lower layers only
  const dir = await tree.directory(dirParts, name, false);
  if (dir === null) return;
  const path = join(dir, victim);
  const st = await lstatOrNull(path);
  if (st === null) return;
  await removeExisting(path, st, tree);
}

/** Removes what lower layers put under `dir` (`rel` in the tree), keeping this layer's entries. */
async function emptyOpaque(dir: string, rel: string, ours: Set<string>): Promise<void> {
  for (const child of await readdir(dir, { withFileTypes: true })) {
    const childRel = rel === "" ? child.name : `${rel}/${child.name}`;
    const path = join(dir, child.name);
    if (!ours.has(childRel)) await rm(path, { recursive: true, force: true });
    else if (child.isDirectory()) await emptyOpaque(path, childRel, ours);
  }
}
