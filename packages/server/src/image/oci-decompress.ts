/**
 * Layer blobs of an image archive: plain tar, gzip or zstd, told apart by their first bytes
 * (media types lie as often as not). gzip is Node's zlib; zstd is the host's `zstd` (Debian
 * package `zstd`; Node 20 has no zstd) with its decoder memory capped, so a frame asking for a
 * 2 GiB window fails instead of allocating it. Every byte is counted on both sides of the
 * decompressor and hashed, so the caller checks the blob digest and the layer's diff_id.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import { PassThrough, type Readable, Transform, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import { AtollError } from "atoll/contract";
import { HOST_PATH } from "../host/run-command.js";
import { DaemonError } from "../daemon-error.js";

/** How a layer blob is compressed. */
export type Compression = "none" | "gzip" | "zstd";

/** Largest window a zstd layer may ask for (zstd's own default limit). */
const ZSTD_MEMORY = "128MB";

/** Tells the compression from a blob's first bytes (at least 4 of them, or the whole blob). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  return "none";
}

/** Counts and hashes what flows through; fails once more than `limit` bytes went by. */
class Meter extends Transform {
  readonly hash: Hash = createHash("sha256");
  bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly onLimit: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return done(this.onLimit());
    this.hash.update(chunk);
    done(null, chunk);
  }

  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

/** A layer's tar stream and the meters of the blob (`compressed`) and of the tar (`tar`). */
export interface LayerStream {
  tar: Readable;
  compressed: Meter;
  uncompressed: Meter;
  /** Ends a zstd process early (on a failure elsewhere); a no-op otherwise. */
  close(): void;
}

/**
 * Decompresses `blob` (first bytes `head`) into a tar stream, metered: at most `maxTarBytes`
 * of tar, else the error `onLimit` makes. Errors of the blob or the decompressor end the tar
 * stream with that error.
 */
export function openLayerStream(blob: Readable, head: Buffer, maxTarBytes: number, onLimit: () => Error): LayerStream {
  const compressed = new Meter(Number.MAX_SAFE_INTEGER, onLimit);
  const uncompressed = new Meter(maxTarBytes, onLimit);
  const kind = detectCompression(head);
  let child: ChildProcess | null = null;
  const fail = (error: Error): void => {
    if (!uncompressed.destroyed) uncompressed.destroy(error);
  };
  blob.on("error", fail);
  compressed.on("error", fail);
  blob.pipe(compressed);
  if (kind === "none") {
    compressed.pipe(uncompressed);
  } else if (kind === "gzip") {
    const gunzip = createGunzip();
    gunzip.on("error", (e) => fail(new AtollError("INVALID_ARGUMENT", `image archive: a gzip layer is corrupt: ${e.message}`, undefined, { cause: e })));
    compressed.pipe(gunzip).pipe(uncompressed);
  } else {
    const zstd = spawn("zstd", ["-d", "-c", "-q", `--memory=${ZSTD_MEMORY}`], { stdio: ["pipe", "pipe", "pipe"], env: { PATH: HOST_PATH } });
    child = zstd;
    let stderr = "";
    zstd.stderr.setEncoding("utf8").on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    zstd.on("error", (e) =>
      fail(new DaemonError("IMAGE_BUILD_FAILED", `cannot run zstd for a zstd layer (install Debian's zstd): ${e.message}`, { cause: e })),
    );
    zstd.stdin.on("error", () => {}); // EPIPE when zstd gives up: its exit status says why.
    zstd.on("exit", (code, signal) => {
      if (code !== 0 && !uncompressed.destroyed)
        fail(
          new AtollError(
            "INVALID_ARGUMENT",
            `image archive: a zstd layer is corrupt or needs more than ${ZSTD_MEMORY} to decode (zstd ${signal ?? `exit ${code}`}: ${stderr.trim()})`,
          ),
        );
    });
    compressed.pipe(zstd.stdin);
    // Passing through a PassThrough holds the tar end until zstd's exit status is known.
    const out = new PassThrough();
    zstd.stdout.pipe(out, { end: false });
    let stdoutEnded = false;
    let exited = false;
    const finish = (): void => {
      if (stdoutEnded && exited) out.end();
    };
    zstd.stdout.on("end", () => {
      stdoutEnded = true;
      finish();
    });
    zstd.on("exit", (code) => {
      exited = code === 0;
      finish();
    });
    out.pipe(uncompressed);
  }
  return {
    tar: uncompressed,
    compressed,
    uncompressed,
    close: () => {
      if (child !== null && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      blob.destroy();
    },
  };
}
