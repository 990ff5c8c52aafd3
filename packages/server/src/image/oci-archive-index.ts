/**
 * The outer tar of an image archive (`docker save` output or an OCI layout tarball), read once
 * to learn where each member's bytes are, then read again only where needed: a JSON document by
 * offset, a layer as a file range. No member is copied out and no layer is held in memory.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { detectCompression } from "./oci-decompress.js";
import { badImage, entryComponents } from "./oci-paths.js";

/** Most members an archive may have (a layout holds a few files per layer). */
const MAX_MEMBERS = 100_000;
/** Most symlinks followed to find a member (newer `docker save` links layer.tar to its blob). */
const MAX_LINK_HOPS = 8;

interface Member {
  offset: number;
  size: number;
  link: string | null;
}

/** Members of an outer archive by normalized name, and the way to their bytes. */
export class ArchiveIndex {
  private constructor(
    private readonly path: string,
    private readonly members: Map<string, Member>,
  ) {}

  /** Reads the member table of the tar at `path` (a plain tar: unpackOciArchive decompresses first). */
  static async read(path: string): Promise<ArchiveIndex> {
    const head = await readRange(path, 0, 4);
    const compression = detectCompression(head);
    if (compression !== "none") {
      throw badImage(`the archive is ${compression}-compressed`);
    }
    const members = new Map<string, Member>();
    const ex = extract();
    const source = createReadStream(path);
    source.on("error", (e) => ex.destroy(e));
    source.pipe(ex);
    try {
      for await (const entry of ex) {
        const h = entry.header;
        const name = entryComponents(h.name, "archive member").join("/");
        if (h.type === "file" || h.type === "contiguous-file") {
          members.set(name, { offset: (h as { byteOffset?: number }).byteOffset ?? Number.NaN, size: h.size, link: null });
        } else if (h.type === "symlink" || h.type === "link") {
          const target = h.type === "link" ? (h.linkname ?? "") : posix.join(posix.dirname(name), h.linkname ?? "");
          members.set(name, { offset: 0, size: 0, link: target });
        }
        if (members.size > MAX_MEMBERS) throw badImage(`more than ${MAX_MEMBERS} members`);
        entry.resume();
      }
    } catch (error) {
      source.destroy();
      if ((error as { code?: unknown }).code === "INVALID_ARGUMENT") throw error;
      throw badImage(`not a readable tar archive: ${(error as Error).message}`, undefined);
    }
    for (const m of members.values()) {
      if (m.link === null && !Number.isSafeInteger(m.offset)) throw badImage("the tar library gave no member offsets");
    }
    return new ArchiveIndex(path, members);
  }

  /** Whether a member of that name exists (after following links). */
  has(name: string): boolean {
    return this.find(name) !== null;
  }

  private find(name: string): Member | null {
    let current = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const m = this.members.get(entryComponents(current, "archive member").join("/"));
      if (m === undefined) return null;
      if (m.link === null) return m;
      current = m.link;
    }
    throw badImage(`member ${JSON.stringify(name)}: too many links`);
  }

  private get(name: string): Member {
    const m = this.find(name);
    if (m === null) throw badImage(`${JSON.stringify(name)} is not in the archive`);
    return m;
  }

  /** Size of a member in bytes. */
  size(name: string): number {
    return this.get(name).size;
  }

  /** A whole member, refused when larger than `maxBytes` (JSON documents). */
  async readSmall(name: string, maxBytes: number): Promise<Buffer> {
    const m = this.get(name);
    if (m.size > maxBytes) throw badImage(`${JSON.stringify(name)} is ${m.size} bytes, more than the ${maxBytes} allowed`);
    return readRange(this.path, m.offset, m.size);
  }

  /** The first bytes of a member (for telling its compression). */
  async head(name: string, bytes: number): Promise<Buffer> {
    const m = this.get(name);
    return readRange(this.path, m.offset, Math.min(bytes, m.size));
  }

  /** A member's bytes as a stream (from the file, by range). */
  stream(name: string): Readable {
    const m = this.get(name);
    if (m.size === 0) return Readable.from([]);
    return createReadStream(this.path, { start: m.offset, end: m.offset + m.size - 1 });
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) throw badImage("the archive is truncated");
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
