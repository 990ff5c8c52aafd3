/**
 * A base image for another sandbox id range, made from one already built: the recipe hash
 * includes the uid base, so a host whose range moves (docs/operations.md, "The sandbox id
 * range") needs a new image. Copying the existing tree and moving its owners takes seconds and
 * no network, where a bootstrap takes a minute and Debian's mirror.
 */
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { shiftIds } from "../host/id-shift.js";
import type { CommandRunner } from "../host/run-command.js";
import { SANDBOX_ID_COUNT } from "../host/uid-range.js";
import { BUILDER_VERSION, canonicalJson, type ImageRecipe } from "./image-recipe.js";
import type { ImageInfo, ImageLocation } from "./image-builder.js";
import { DaemonError } from "../daemon-error.js";

const NATIVE_DIR = fileURLToPath(new URL("../../native/build", import.meta.url));

function withoutBase(recipe: ImageRecipe): string {
  return canonicalJson({ ...recipe.content, uidBase: 0 });
}

/**
 * An image in `imagesDir` built by this builder version from the same recipe but for another
 * uid base whose range does not overlap `recipe`'s, or null.
 */
export function findDerivableImage(imagesDir: string, recipe: ImageRecipe, read: (dir: string, hash: string) => ImageLocation | null): ImageLocation | null {
  const wanted = withoutBase(recipe);
  const base = recipe.content.uidBase;
  let names: string[];
  try {
    names = readdirSync(imagesDir);
  } catch {
    return null;
  }
  for (const name of names.sort()) {
    if (name.startsWith(".")) continue;
    const image = read(imagesDir, name);
    if (!image || image.info.builderVersion !== BUILDER_VERSION) continue;
    const other = image.info.recipe.content.uidBase;
    if (Math.abs(other - base) < SANDBOX_ID_COUNT || withoutBase(image.info.recipe) !== wanted) continue;
    return image;
  }
  return null;
}

/**
 * Copies `source`'s rootfs to `rootfs` (reflinks where the filesystem can) and moves its owners
 * to `recipe`'s uid base. Returns the image.json contents of the result.
 */
export async function deriveImage(
  runner: CommandRunner,
  source: ImageLocation,
  rootfs: string,
  recipe: ImageRecipe,
  hash: string,
  nativeDir = NATIVE_DIR,
): Promise<ImageInfo> {
  const started = Date.now();
  if (existsSync(rootfs)) throw new DaemonError("IMAGE_BUILD_FAILED", `${rootfs} exists already`);
  await runner.run("cp", ["-a", "--reflink=auto", source.rootfs, rootfs], { timeoutMs: 3600_000 });
  await shiftIds(runner, rootfs, source.info.recipe.content.uidBase, recipe.content.uidBase, nativeDir);
  return {
    ...source.info,
    hash,
    recipe,
    createdAt: new Date().toISOString(),
    tool: `${source.info.tool}; derived from ${source.hash} (uid base ${source.info.recipe.content.uidBase})`,
    buildSeconds: Math.round((Date.now() - started) / 100) / 10,
  };
}
