/**
 * Image archives made by tests (no registry is reachable, nothing is fetched): layer tars from
 * entry lists (tar-stream's packer: pax, uid/gid, devices), compressed with zlib or the host's
 * zstd, wrapped as an OCI image layout tarball or as `docker save` output. Tests of hostile
 * input build the outer tar themselves from `outerTar` members.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { type Header, pack } from "tar-stream";

/** One entry of a test layer. */
export interface FixtureEntry {
  name: string;
  type?: Header["type"];
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  pax?: Record<string, string>;
}

export type FixtureCompression = "none" | "gzip" | "zstd";

/** The image a fixture archive holds. */
export interface FixtureImage {
  /** Entry lists, or ready-made layer tars (GNU tar output, say). */
  layers: (FixtureEntry[] | Buffer)[];
  compression?: FixtureCompression;
  architecture?: string;
  os?: string;
  /** The config's `config` object (Env, WorkingDir, User, Entrypoint, Cmd). */
  config?: Record<string, unknown>;
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash("sha256").update(buf).digest("hex")}`;
}

/** A tar of `entries` (raw names: tests put `..` or absolute names in on purpose). */
export async function layerTar(entries: FixtureEntry[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) out.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const body = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const type = e.type ?? "file";
    await new Promise<void>((resolve, reject) =>
      p.entry(
        {
          name: e.name,
          type,
          mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          mtime: new Date(1_700_000_000_000),
          ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
          ...(e.pax === undefined ? {} : { pax: e.pax }),
          ...(type === "file" ? { size: body.length } : {}),
        },
        type === "file" ? body : Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

export function compress(tar: Buffer, how: FixtureCompression): Buffer {
  if (how === "gzip") return gzipSync(tar);
  if (how === "zstd") return execFileSync("zstd", ["-c", "-q"], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

/** A member of an outer archive. */
export interface Member {
  name: string;
  data?: Buffer;
  linkname?: string;
}

/** The outer tar of an archive. */
export function outerTar(members: Member[]): Promise<Buffer> {
  return layerTar(
    members.map((m) =>
      m.linkname === undefined ? { name: m.name, content: m.data ?? Buffer.alloc(0) } : { name: m.name, type: "symlink", linkname: m.linkname },
    ),
  );
}

/** The blobs of an image: layer blobs (compressed), their diff_ids, the config document. */
export async function imageBlobs(image: FixtureImage): Promise<{ layers: Buffer[]; diffIds: string[]; config: Buffer }> {
  const tars = await Promise.all(image.layers.map((l) => (Buffer.isBuffer(l) ? l : layerTar(l))));
  const diffIds = tars.map(sha256);
  const layers = tars.map((t) => compress(t, image.compression ?? "gzip"));
  const config = Buffer.from(
    JSON.stringify({
      architecture: image.architecture ?? "amd64",
      os: image.os ?? "linux",
      config: image.config ?? { Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
  return { layers, diffIds, config };
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function blob(data: Buffer): Member & { digest: string; size: number } {
  const digest = sha256(data);
  return { name: `blobs/sha256/${digest.slice(7)}`, data, digest, size: data.length };
}

/** Options of an OCI layout fixture. */
export interface OciLayoutOptions {
  /** Platforms of the index entries: the image is listed once per platform (a multi-platform index). */
  platforms?: { os: string; architecture: string }[];
  /** Put the manifests in a nested index, as `docker save` (v25+) and buildx do. */
  nested?: boolean;
  ref?: string;
}

/** Members of an OCI image layout holding `image`. */
export async function ociLayoutMembers(image: FixtureImage, options: OciLayoutOptions = {}): Promise<Member[]> {
  const { layers, config } = await imageBlobs(image);
  return ociMembersFromBlobs(config, layers, options);
}

/** Members of an OCI image layout made of these blobs (a config document, layer blobs). */
export function ociMembersFromBlobs(config: Buffer, layers: Buffer[], options: OciLayoutOptions = {}): Member[] {
  const layerBlobs = layers.map(blob);
  const configBlob = blob(config);
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configBlob.digest, size: configBlob.size },
        layers: layerBlobs.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
      }),
    ),
  );
  const annotations = options.ref === undefined ? undefined : { "org.opencontainers.image.ref.name": options.ref };
  const entries = (options.platforms ?? [undefined]).map((platform) => ({
    mediaType: OCI_MANIFEST,
    digest: manifest.digest,
    size: manifest.size,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  }));
  const members: Member[] = [{ name: "oci-layout", data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') }, configBlob, manifest, ...layerBlobs];
  if (options.nested) {
    const inner = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries })));
    members.push(inner, {
      name: "index.json",
      data: Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: OCI_INDEX, digest: inner.digest, size: inner.size, ...(annotations ? { annotations } : {}) }],
        }),
      ),
    });
  } else {
    members.push({ name: "index.json", data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: entries })) });
  }
  return members;
}

/** Members of `docker save` (legacy layout: `<id>/layer.tar`, `<hex>.json`, manifest.json). */
export async function dockerSaveMembers(image: FixtureImage, tags = ["test/image:latest"]): Promise<Member[]> {
  const { layers, config } = await imageBlobs({ ...image, compression: image.compression ?? "none" });
  const configName = `${sha256(config).slice(7)}.json`;
  const layerNames = layers.map((l, i) => `${sha256(l).slice(7, 23)}${i}/layer.tar`);
  return [
    { name: configName, data: config },
    ...layers.map((l, i) => ({ name: layerNames[i] as string, data: l })),
    { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: tags, Layers: layerNames }])) },
  ];
}

/** Writes an OCI layout tarball of `image` to `path`. */
export async function writeOciArchive(path: string, image: FixtureImage, options: OciLayoutOptions = {}): Promise<void> {
  writeFileSync(path, await outerTar(await ociLayoutMembers(image, options)));
}

/** Writes `docker save` output of `image` to `path`. */
export async function writeDockerArchive(path: string, image: FixtureImage, tags?: string[]): Promise<void> {
  writeFileSync(path, await outerTar(await dockerSaveMembers(image, tags)));
}
