/**
 * Extended attributes of image layer entries (pax records `SCHILY.xattr.NAME`, as Docker and
 * GNU tar write them). tar-stream decodes pax values as UTF-8, which mangles binary ones such as
 * `security.capability`, so the raw records are read again here from the pax header's bytes.
 * Only `user.*` and `security.capability` are applied: `trusted.*` (overlayfs keeps its
 * redirects and opaque marks there), `security.*` labels and ACLs from an untrusted image are
 * skipped and counted. Node.js has no xattr call: `native/atoll-xattr` sets them (lsetxattr).
 */
import { fileURLToPath } from "node:url";
import type { Extract, Header } from "tar-stream";
import { execFileCommand } from "../host/run-command.js";
import { badImage } from "./oci-paths.js";

const HELPER = fileURLToPath(new URL("../../native/build/atoll-xattr", import.meta.url));
const PREFIX = "SCHILY.xattr.";
/** Key under which the raw xattrs ride along in a header's `pax` object. */
const RAW = "atoll.raw-xattrs";
/** Largest value applied (capabilities are 20–24 bytes; argv carries it as hex). */
const MAX_VALUE_BYTES = 32 * 1024;
const MAX_PER_ENTRY = 64;

/** Raw `SCHILY.xattr.*` records of a pax header: name → value bytes. */
export function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < buf.length) {
    const space = buf.indexOf(0x20, at);
    if (space < 0 || space - at > 20) break;
    const len = Number.parseInt(buf.toString("latin1", at, space), 10);
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > buf.length) break;
    const record = buf.subarray(space + 1, at + len - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.toString("utf8", 0, eq);
      if (key.startsWith(PREFIX)) out.set(key.slice(PREFIX.length), Buffer.from(record.subarray(eq + 1)));
    }
    at += len;
  }
  return out;
}

/**
 * Makes `ex` keep each pax header's raw xattrs on the header it applies to (`xattrsOf` reads
 * them). Hooks tar-stream's pax decoding, which keeps only UTF-8 strings.
 */
export function keepRawXattrs(ex: Extract): void {
  const inner = ex as unknown as { _decodeLongHeader(buf: Buffer): void; _header: { type: string }; _pax: Record<string, unknown> | null };
  const decode = inner._decodeLongHeader.bind(inner);
  inner._decodeLongHeader = (buf: Buffer): void => {
    decode(buf);
    if (inner._header.type === "pax-header" && inner._pax !== null) {
      const raw = parsePaxXattrs(buf);
      if (raw.size > 0) inner._pax[RAW] = raw;
    }
  };
}

/** The xattrs to apply to an entry, and how many it carried that are not applied. */
export function xattrsOf(header: Header): { apply: [string, Buffer][]; skipped: number } {
  const raw = (header.pax as Record<string, unknown> | null | undefined)?.[RAW];
  if (!(raw instanceof Map)) return { apply: [], skipped: 0 };
  if (raw.size > MAX_PER_ENTRY) throw badImage(`entry ${JSON.stringify(header.name)} has more than ${MAX_PER_ENTRY} extended attributes`);
  const apply: [string, Buffer][] = [];
  for (const [name, value] of raw as Map<string, Buffer>) {
    const wanted = (name.startsWith("user.") && name.length > 5) || name === "security.capability";
    if (wanted && Buffer.byteLength(name) <= 255 && value.length <= MAX_VALUE_BYTES) apply.push([name, value]);
  }
  return { apply, skipped: raw.size - apply.length };
}

/** Sets `attrs` on `path` (not following a symlink). */
export async function setXattrs(path: string, attrs: [string, Buffer][]): Promise<void> {
  if (attrs.length === 0) return;
  await execFileCommand(HELPER, [path, ...attrs.flatMap(([name, value]) => [name, value.toString("hex")])]);
}
