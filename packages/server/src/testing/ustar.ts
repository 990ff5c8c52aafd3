/**
 * A minimal ustar writer and reader for tests: archives made by hand (files-escape.itest.ts, the
 * files contract) and the in-memory file helper's tar-in/tar-out (fakes/fake-files.ts). No pax,
 * no GNU long names: names up to 100 bytes.
 */

/** Entry types: "0" file, "5" directory, "2" symlink, "1" hard link. */
export type TarType = "0" | "5" | "2" | "1";

export interface TarEntry {
  name: string;
  type: TarType;
  mode: number;
  /** File contents ("0"); empty otherwise. */
  body: Buffer;
  /** Link target ("2", "1"). */
  link: string;
}

/** One header block. */
function header(e: Omit<TarEntry, "body">, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100);
  h.write(`${e.mode.toString(8).padStart(7, "0")}\0`, 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write(e.type, 156);
  if (e.link) h.write(e.link, 157, 100);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** The archive of `entries`, with its two end blocks. */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const size = e.type === "0" ? e.body.length : 0;
    blocks.push(header(e, size));
    if (size) blocks.push(e.body, Buffer.alloc((512 - (size % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A ustar archive from [name, type, content (a file) or link target (a link)] entries. */
export function tarOf(entries: [string, TarType, string][]): Uint8Array {
  return new Uint8Array(
    writeTar(
      entries.map(([name, type, text]) => ({
        name,
        type,
        mode: type === "5" ? 0o755 : 0o644,
        body: type === "0" ? Buffer.from(text) : Buffer.alloc(0),
        link: type === "2" || type === "1" ? text : "",
      })),
    ),
  );
}

const field = (h: Buffer, at: number, len: number) => {
  const s = h.subarray(at, at + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? len : end).toString("utf8");
};

/** The entries of an archive; throws on a bad header or a cut body. Stops at the first zero block. */
export function readTar(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (Number.parseInt(field(h, 148, 8).trim(), 8) !== sum) throw new Error("bad header checksum");
    const size = Number.parseInt(field(h, 124, 12).trim() || "0", 8);
    const type = (field(h, 156, 1) || "0") as TarType;
    if (off + 512 + size > tar.length) throw new Error("the archive ended in the middle of an entry");
    const body = Buffer.from(tar.subarray(off + 512, off + 512 + size));
    out.push({ name: field(h, 0, 100), type, mode: Number.parseInt(field(h, 100, 8).trim() || "0", 8), body, link: field(h, 157, 100) });
    off += 512 + size + ((512 - (size % 512)) % 512);
  }
  return out;
}
