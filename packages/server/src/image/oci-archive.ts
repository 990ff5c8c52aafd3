/**
 * Turns an OCI image archive (`docker save` output or an OCI image layout tarball) into a root
 * filesystem tree: finds the image for this host's platform, checks every blob against its
 * digest and every layer against its diff_id, applies the layers in order (docs/images.md,
 * "Images from elsewhere") and returns the image config (Env, WorkingDir, User, …) for the boot
 * path. The archive is untrusted: nothing is written outside the target, sizes and counts are
 * bounded, and on any failure the target is removed again.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, open, rm, stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { dirname } from "node:path";
import { AtollError } from "atoll/contract";
import { DaemonError } from "../daemon-error.js";
import { ArchiveIndex } from "./oci-archive-index.js";
import { type OciImageConfig, parseImageConfig } from "./oci-config.js";
import { type Compression, detectCompression, openLayerStream } from "./oci-decompress.js";
import { applyLayer, type UnpackBudget } from "./oci-layers.js";
import { resolveImage } from "./oci-manifest.js";
import { badImage, SafeTree } from "./oci-paths.js";

/** Options of `unpackOciArchive`. */
export interface UnpackOptions {
  /** Most bytes of file content the image may unpack to (PAYLOAD_TOO_LARGE beyond). */
  maxBytes: number;
  /** Most tar entries over all layers (default 500,000). */
  maxEntries?: number;
  /** Tag or ref name of the image, when the archive holds several. */
  ref?: string;
  /** Platform wanted (default linux and this host's architecture, e.g. linux/amd64). */
  platform?: { os: string; architecture: string };
  /** Set owners from the archive (default true; needs root). */
  ownership?: boolean;
}

/** One applied layer. */
export interface UnpackedLayer {
  /** Digest of the blob as stored (what a registry calls the layer digest). */
  digest: string;
  /** Digest of the uncompressed tar (the config's diff_id). */
  diffId: string;
  compression: Compression;
}

/** What `unpackOciArchive` made. */
export interface UnpackResult {
  config: OciImageConfig;
  layers: UnpackedLayer[];
  /** Bytes of file content written. */
  bytesWritten: number;
  entries: number;
  /** Entries not made: device nodes and FIFOs (sandboxes get their own /dev); extended attributes not applied (only `user.*` and `security.capability` are). */
  skipped: { devices: number; fifos: number; xattrs: number };
}

const DEFAULT_MAX_ENTRIES = 500_000;

/** This host's architecture as OCI names it. */
export function hostArchitecture(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

/** Where a compressed archive is decompressed to: beside the target, in the private parent. */
function scratchOf(targetDir: string): string {
  return `${targetDir}.archive.tar`;
}

async function checkTarget(targetDir: string): Promise<void> {
  const parent = dirname(targetDir);
  const st = await stat(parent).catch(() => null);
  if (st === null || !st.isDirectory()) throw new DaemonError("IMAGE_BUILD_FAILED", `${parent} is not a directory`);
  // Until the caller shifts its owners, the tree may hold setuid programs owned by host root:
  // only the daemon may reach it.
  if ((st.mode & 0o077) !== 0 || st.uid !== process.getuid?.()) {
    throw new DaemonError("IMAGE_BUILD_FAILED", `${parent} must be private to the daemon (mode 0700, owned by it) to unpack an image in it`);
  }
  for (const path of [targetDir, scratchOf(targetDir)]) {
    if ((await lstat(path).catch(() => null)) !== null) throw new DaemonError("IMAGE_BUILD_FAILED", `${path} exists already`);
  }
}

/**
 * Unpacks the image in `archivePath` into `targetDir` (made here; its parent must be private
 * to the daemon). Streams every layer: memory stays small whatever the image size.
 *
 * @example
 *   const { config, bytesWritten } = await unpackOciArchive("/tmp/app.tar", "/var/lib/atoll/images/.import-1/rootfs", { maxBytes: 10 * 2 ** 30 });
 *   config.env.PATH; // "/usr/local/sbin:/usr/local/bin:…"
 */
export async function unpackOciArchive(archivePath: string, targetDir: string, options: UnpackOptions): Promise<UnpackResult> {
  await checkTarget(targetDir);
  await mkdir(targetDir, { mode: 0o700 });
  try {
    await chmod(targetDir, 0o755); // the image's "/" (its own "./" entry may change it)
    return await unpackInto(archivePath, targetDir, options);
  } catch (error) {
    await rm(targetDir, { recursive: true, force: true });
    if (error instanceof AtollError) throw error;
    throw new DaemonError("IMAGE_BUILD_FAILED", `unpacking the image failed: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The archive as a plain tar: itself, or (`docker save | gzip`) decompressed into `scratch`
 * (next to the target, in the daemon's private directory), at most `limit` bytes.
 */
async function plainArchive(archivePath: string, scratch: string, limit: number, tooLarge: () => Error): Promise<string> {
  const fh = await open(archivePath, "r");
  const head = Buffer.alloc(4);
  const { bytesRead } = await fh.read(head, 0, 4, 0).finally(() => fh.close());
  if (detectCompression(head.subarray(0, bytesRead)) === "none") return archivePath;
  const stream = openLayerStream(createReadStream(archivePath), head, limit, tooLarge);
  try {
    await pipeline(stream.tar, createWriteStream(scratch, { flags: "wx", mode: 0o600 }));
  } finally {
    stream.close();
  }
  return scratch;
}

async function unpackInto(archivePath: string, targetDir: string, options: UnpackOptions): Promise<UnpackResult> {
  const scratch = scratchOf(targetDir);
  try {
    return await unpackPlain(archivePath, scratch, targetDir, options);
  } finally {
    await rm(scratch, { force: true });
  }
}

async function unpackPlain(archivePath: string, scratch: string, targetDir: string, options: UnpackOptions): Promise<UnpackResult> {
  const platform = options.platform ?? { os: "linux", architecture: hostArchitecture() };
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  // Tar headers and padding come on top of file content; zero blocks without end would not.
  let tarBudget = options.maxBytes + 64 * 2 ** 20 + 2048 * maxEntries;
  const tooLarge = (): Error => new AtollError("PAYLOAD_TOO_LARGE", `image archive: the layers unpack to more than the ${options.maxBytes} bytes allowed`);
  const archive = await ArchiveIndex.read(await plainArchive(archivePath, scratch, tarBudget, tooLarge));
  const image = await resolveImage(archive, { ...platform, ...(options.ref === undefined ? {} : { ref: options.ref }) });
  const config = parseImageConfig(image.config);
  if (config.os !== platform.os || config.architecture !== platform.architecture) {
    throw badImage(`the image is for ${config.os}/${config.architecture}, not ${platform.os}/${platform.architecture}`);
  }
  if (config.diffIds.length !== image.layers.length) {
    throw badImage(`the manifest lists ${image.layers.length} layers, the config ${config.diffIds.length} diff_ids`);
  }
  const budget: UnpackBudget = { maxBytes: options.maxBytes, maxEntries, bytesWritten: 0, entries: 0, skipped: { devices: 0, fifos: 0, xattrs: 0 } };
  const tree = new SafeTree(targetDir);
  const layers: UnpackedLayer[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const head = await archive.head(layer.member, 4);
    const stream = openLayerStream(archive.stream(layer.member), head, tarBudget, tooLarge);
    try {
      await applyLayer(stream.tar, tree, budget, { ownership: options.ownership ?? true });
    } finally {
      stream.close();
    }
    tarBudget -= stream.uncompressed.bytes;
    const digest = stream.compressed.digest();
    const diffId = stream.uncompressed.digest();
    if (layer.blobDigest !== null && digest !== layer.blobDigest) throw badImage(`layer ${i + 1} does not match its digest ${layer.blobDigest}`);
    if (diffId !== config.diffIds[i]) throw badImage(`layer ${i + 1} does not match its diff_id ${config.diffIds[i]}`);
    layers.push({ digest, diffId, compression: detectCompression(head) });
  }
  return { config, layers, bytesWritten: budget.bytesWritten, entries: budget.entries, skipped: budget.skipped };
}
