/**
 * Deno Sandbox 0.13.2's option shapes, translated into Atoll's requests in the SDK (the daemon
 * sees only Atoll's forms): `volumes` as a record `{ "/mount/path": "slug-or-id" }`, `region`
 * (accepted, ignored: one self-hosted daemon has one region), volume `slug`/`capacity`.
 * docs/deno-compatibility.md lists every decision.
 */
import { type CreateSandboxRequest, InvalidArgumentError } from "./contract/index.js";

/**
 * Deno's `region` option: accepted everywhere and ignored (a daemon is one region).
 *
 * @example await Sandbox.create({ region: "ord" });
 */
export type Region = string;

/**
 * `Sandbox.create()` options as Deno Sandbox writes them, on top of Atoll's: `volumes` may be a
 * record from mount path to volume slug or id (mounted read-write), and `region` is ignored.
 *
 * @example await Sandbox.create({ region: "ord", volumes: { "/data/cache": "my-cache" } });
 */
export type DenoSandboxOptions = Omit<CreateSandboxRequest, "volumes"> & {
  volumes?: CreateSandboxRequest["volumes"] | Record<string, string>;
  region?: Region;
};

/** Atoll's CreateSandboxRequest from either API style's options. */
export function toCreateSandboxRequest(options: DenoSandboxOptions): CreateSandboxRequest {
  const { region: _region, volumes, ...rest } = options;
  if (volumes === undefined || Array.isArray(volumes)) return volumes === undefined ? rest : { ...rest, volumes };
  if (volumes === null || typeof volumes !== "object") {
    throw new InvalidArgumentError('volumes must be a list of { id, mountPath, accessMode } or a record { "/mount/path": "volume-slug-or-id" }');
  }
  return {
    ...rest,
    volumes: Object.entries(volumes).map(([mountPath, id]) => {
      if (typeof id !== "string") throw new InvalidArgumentError(`volumes["${mountPath}"] must be a volume slug or id (a string), got ${typeof id}`);
      return { id, mountPath, accessMode: "rw" as const };
    }),
  };
}

/**
 * Deno Sandbox's `VolumeInit`: `slug` (becomes the volume's name), `region` (ignored) and
 * `capacity` in bytes or as a string ("1GiB", "300MB").
 *
 * @example await client.volumes.create({ slug: "my-cache", region: "ord", capacity: "1GiB" });
 */
export interface VolumeInit {
  /** 2-32 characters of a-z 0-9 -, not starting or ending with "-" (Deno's rule). */
  slug: string;
  /** Accepted and ignored. */
  region?: Region;
  /** Bytes, or a string with GB, MB, kB, GiB, MiB or KiB. */
  capacity: number | string;
  /** A snapshot id or slug (a copy-on-write fork of it), or "builtin:debian-12" (a bootable volume). */
  from?: string;
}

/**
 * Deno Sandbox's `SnapshotInit`: `slug` becomes the snapshot's name (Deno's slug rule applies).
 *
 * @example await client.volumes.snapshot("my-volume", { slug: "my-snapshot" });
 */
export interface SnapshotInit {
  slug: string;
  /** Accepted and ignored (Deno's types do not have it; its docs pass it). */
  region?: Region;
}

export { toCreateVolumeRequest } from "./contract/deno-volume.js";
