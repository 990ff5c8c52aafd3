/**
 * Deno Sandbox 0.13.2's volume init (`{ slug, region, capacity }`) as Atoll's CreateVolumeRequest,
 * shared by the SDK's Deno-style `client.volumes.create` and the daemon's Deno wire API
 * (docs/deno-compatibility.md).
 */
import { InvalidArgumentError } from "./errors.js";
import type { CreateVolumeRequest } from "./schemas.js";
import { parseSize } from "./units.js";

/** Deno's slug rule: 2-32 of a-z 0-9 -, no hyphen first or last, no "--" at positions 3-4. */
const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$/;

/**
 * Checks a volume or snapshot slug against Deno's rule; throws INVALID_ARGUMENT saying the rule.
 *
 * @example checkDenoSlug("my-snapshot") // ok; checkDenoSlug("ab--cd") throws
 */
export function checkDenoSlug(slug: unknown): asserts slug is string {
  if (typeof slug !== "string" || !SLUG_RE.test(slug) || slug.slice(2, 4) === "--") {
    throw new InvalidArgumentError(
      `slug ${JSON.stringify(slug)} is not valid: 2-32 characters of a-z 0-9 and -, not starting or ending with "-", and no "--" at positions 3-4`,
    );
  }
}

/**
 * Atoll's CreateVolumeRequest for a Deno VolumeInit; rejects what Deno would reject. `region`
 * is accepted and ignored; `from` (a snapshot id or slug, or "builtin:debian-12") is Atoll's `from`.
 *
 * @example toCreateVolumeRequest({ slug: "my-cache", capacity: "1GiB" }) // { name: "my-cache", sizeGb: 1 }
 */
export function toCreateVolumeRequest(init: { slug: string; capacity: number | string; region?: string; from?: string }): CreateVolumeRequest {
  if (init === null || typeof init !== "object") throw new InvalidArgumentError("volumes.create takes { slug, region, capacity, from? }");
  const { slug, capacity, from } = init;
  checkDenoSlug(slug);
  const bytes = parseSize(capacity);
  if (!bytes.ok) throw new InvalidArgumentError(`capacity: ${bytes.error}`);
  // Whole MiB, rounded up: the volume holds at least the capacity asked for.
  const sizeGb = Math.ceil(bytes.value / 2 ** 20) / 1024;
  return from === undefined ? { name: slug, sizeGb } : { name: slug, sizeGb, from };
}
