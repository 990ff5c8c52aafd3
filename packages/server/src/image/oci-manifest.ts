/**
 * Finds the one image of an archive and the members holding its config and layers: an OCI
 * image layout (`oci-layout`, `index.json` → index(es) → manifest → config + layers, picking
 * the wanted platform) or the legacy `docker save` layout (`manifest.json` with `Config` and
 * `Layers` paths). Every blob named by digest is checked against it when read.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { ArchiveIndex } from "./oci-archive-index.js";
import { MAX_CONFIG_BYTES } from "./oci-config.js";
import { badImage } from "./oci-paths.js";

const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** Most layers an image may have (Docker stops at 127). */
export const MAX_LAYERS = 256;
/** Deepest nesting of indexes followed. */
const MAX_INDEX_DEPTH = 4;

const DIGEST = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a digest must be sha256:<64 hex digits>");
const descriptorSchema = z.object({
  mediaType: z.string().max(256).optional(),
  digest: DIGEST,
  size: z.number().int().nonnegative(),
  platform: z.object({ architecture: z.string().max(64), os: z.string().max(64), variant: z.string().max(64).optional() }).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
type Descriptor = z.infer<typeof descriptorSchema>;
const indexSchema = z.object({ manifests: z.array(descriptorSchema).max(4096) });
const manifestSchema = z.object({ config: descriptorSchema, layers: z.array(descriptorSchema).max(MAX_LAYERS) });
const dockerManifestSchema = z
  .array(z.object({ Config: z.string().max(4096), RepoTags: z.array(z.string().max(4096)).nullish(), Layers: z.array(z.string().max(4096)).max(MAX_LAYERS) }))
  .max(4096);

/** One layer to apply: the archive member, and what its bytes must hash to. */
export interface LayerRef {
  member: string;
  /** Digest of the blob as stored (OCI layouts), or null when the archive names none. */
  blobDigest: string | null;
}

/** The chosen image: its config document (already checked) and its layers, bottom first. */
export interface ResolvedImage {
  layout: "oci" | "docker";
  config: Buffer;
  layers: LayerRef[];
}

/** Which image to take from an archive. */
export interface ImageChoice {
  /** A tag or ref name (`org.opencontainers.image.ref.name`, a `RepoTags` entry); needed when the archive holds several images. */
  ref?: string;
  /** Wanted platform, default linux and the host's architecture. */
  os: string;
  architecture: string;
}

function sha256(buf: Buffer): string {
  return `sha256:${createHash("sha256").update(buf).digest("hex")}`;
}

export function blobMember(digest: string): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}

function parseJson<T>(raw: Buffer, schema: z.ZodType<T>, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw badImage(`${what} is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badImage(`${what} is invalid at ${issue?.path.join(".") || "(top)"}: ${issue?.message ?? "?"}`);
  }
  return parsed.data;
}

async function readBlob(archive: ArchiveIndex, d: Descriptor, maxBytes: number): Promise<Buffer> {
  const member = blobMember(d.digest);
  if (!archive.has(member)) throw badImage(`blob ${d.digest} is not in the archive`);
  if (archive.size(member) !== d.size) throw badImage(`blob ${d.digest} is ${archive.size(member)} bytes, its descriptor says ${d.size}`);
  const raw = await archive.readSmall(member, maxBytes);
  if (sha256(raw) !== d.digest) throw badImage(`blob ${d.digest} does not match its digest`);
  return raw;
}

const INDEX_TYPES = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);

function refOf(d: Descriptor): string | null {
  return d.annotations?.["io.containerd.image.name"] ?? d.annotations?.["org.opencontainers.image.ref.name"] ?? null;
}

function refMatches(want: string, ref: string | null): boolean {
  return ref !== null && (ref === want || ref.endsWith(`:${want}`) || ref.endsWith(`/${want}`));
}

/** Image manifests of an index tree matching the platform (descriptors without one match). */
async function collectManifests(
  archive: ArchiveIndex,
  index: Descriptor[],
  choice: ImageChoice,
  depth: number,
  seen: string[],
  out: Descriptor[],
  ref: string | null,
): Promise<void> {
  for (const d of index) {
    const thisRef = refOf(d) ?? ref;
    if (d.platform !== undefined) {
      seen.push(`${d.platform.os}/${d.platform.architecture}`);
      if (d.platform.os !== choice.os || d.platform.architecture !== choice.architecture) continue;
    }
    if (d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") continue;
    if (d.mediaType !== undefined && INDEX_TYPES.has(d.mediaType)) {
      if (depth >= MAX_INDEX_DEPTH) throw badImage(`indexes nested deeper than ${MAX_INDEX_DEPTH}`);
      const nested = parseJson(await readBlob(archive, d, MAX_JSON_BYTES), indexSchema, `index ${d.digest}`);
      const withRef = nested.manifests.map((m) =>
        thisRef !== null && refOf(m) === null ? { ...m, annotations: { ...m.annotations, "org.opencontainers.image.ref.name": thisRef } } : m,
      );
      await collectManifests(archive, withRef, choice, depth + 1, seen, out, thisRef);
    } else {
      out.push(thisRef !== null && refOf(d) === null ? { ...d, annotations: { ...d.annotations, "org.opencontainers.image.ref.name": thisRef } } : d);
    }
  }
}

function pickOne<T>(items: T[], choice: ImageChoice, refs: (item: T) => string[], key: (item: T) => string): T {
  const wanted = choice.ref === undefined ? items : items.filter((i) => refs(i).some((r) => refMatches(choice.ref as string, r)));
  const distinct = [...new Map(wanted.map((i) => [key(i), i])).values()];
  if (distinct.length === 1) return distinct[0] as T;
  if (choice.ref !== undefined && distinct.length === 0)
    throw badImage(`no image tagged ${JSON.stringify(choice.ref)}; the archive has ${items.flatMap(refs).join(", ") || "untagged images only"}`);
  throw badImage(`the archive holds ${distinct.length} images (${distinct.flatMap(refs).join(", ") || "untagged"}): name the one to import`);
}

async function resolveOci(archive: ArchiveIndex, choice: ImageChoice): Promise<ResolvedImage> {
  const index = parseJson(await archive.readSmall("index.json", MAX_JSON_BYTES), indexSchema, "index.json");
  const seen: string[] = [];
  const found: Descriptor[] = [];
  await collectManifests(archive, index.manifests, choice, 0, seen, found, null);
  if (found.length === 0) {
    throw badImage(`no image for ${choice.os}/${choice.architecture} in the archive (it has ${[...new Set(seen)].join(", ") || "no image"})`);
  }
  const chosen = pickOne(
    found,
    choice,
    (d) => [refOf(d)].filter((r): r is string => r !== null),
    (d) => d.digest,
  );
  const manifest = parseJson(await readBlob(archive, chosen, MAX_JSON_BYTES), manifestSchema, `manifest ${chosen.digest}`);
  const config = await readBlob(archive, manifest.config, MAX_CONFIG_BYTES);
  const layers = manifest.layers.map((l) => {
    const member = blobMember(l.digest);
    if (!archive.has(member)) throw badImage(`layer ${l.digest} is not in the archive (a foreign or non-distributable layer?)`);
    if (archive.size(member) !== l.size) throw badImage(`layer ${l.digest} is ${archive.size(member)} bytes, its descriptor says ${l.size}`);
    return { member, blobDigest: l.digest };
  });
  return { layout: "oci", config, layers };
}

const BLOB_NAME = /(?:^|\/)(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/;

async function resolveDocker(archive: ArchiveIndex, choice: ImageChoice): Promise<ResolvedImage> {
  const images = parseJson(await archive.readSmall("manifest.json", MAX_JSON_BYTES), dockerManifestSchema, "manifest.json");
  if (images.length === 0) throw badImage("manifest.json lists no image");
  const chosen = pickOne(
    images,
    choice,
    (i) => i.RepoTags ?? [],
    (i) => i.Config,
  );
  const config = await archive.readSmall(chosen.Config, MAX_CONFIG_BYTES);
  // The config's name is its digest (`<hex>.json` or `blobs/sha256/<hex>`): check it when so.
  const named = BLOB_NAME.exec(chosen.Config)?.[1];
  if (named !== undefined && sha256(config) !== `sha256:${named}`) throw badImage(`config ${JSON.stringify(chosen.Config)} does not match its digest`);
  const layers = chosen.Layers.map((member) => {
    if (!archive.has(member)) throw badImage(`layer ${JSON.stringify(member)} is not in the archive`);
    const hex = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(member)?.[1];
    return { member, blobDigest: hex === undefined ? null : `sha256:${hex}` };
  });
  return { layout: "docker", config, layers };
}

/**
 * The image an archive holds: the OCI layout when it has `oci-layout` and `index.json`, else
 * `docker save`'s `manifest.json` (newer Docker writes both; they describe the same image).
 */
export async function resolveImage(archive: ArchiveIndex, choice: ImageChoice): Promise<ResolvedImage> {
  if (archive.has("oci-layout") && archive.has("index.json")) {
    const layout = parseJson(await archive.readSmall("oci-layout", 4096), z.object({ imageLayoutVersion: z.string() }), "oci-layout");
    if (!layout.imageLayoutVersion.startsWith("1.")) throw badImage(`OCI layout version ${layout.imageLayoutVersion} is not supported (1.x is)`);
    return resolveOci(archive, choice);
  }
  if (archive.has("manifest.json")) return resolveDocker(archive, choice);
  throw badImage("neither an OCI image layout (oci-layout, index.json) nor docker save output (manifest.json)");
}
