import { buildImage, defaultImagesDir, defaultUidBase, findImage } from "./image-builder.js";
import { createProgressReporter } from "./build-progress.js";

export interface ImageCommandOptions {
  imagesDir?: string;
  uidBase?: number;
  /** Rebuild even when the image for the recipe exists. */
  force?: boolean;
  /** Only report whether the image exists (exit code 0 yes, 1 no); never builds. */
  check?: boolean;
}

/**
 * `atoll image build` (and scripts/setup.sh through build-image-cli.js): builds the base image
 * when missing and prints one summary line to stdout. Progress goes to stderr. Returns the
 * process exit code.
 */
export async function runImageBuildCommand(options: ImageCommandOptions = {}): Promise<number> {
  const imagesDir = options.imagesDir ?? defaultImagesDir();
  const uidBase = options.uidBase ?? defaultUidBase();
  if (options.check) {
    const rootfs = findImage(imagesDir, { uidBase });
    process.stdout.write(rootfs ? `${rootfs}\n` : "");
    return rootfs ? 0 : 1;
  }
  const reporter = createProgressReporter();
  try {
    const image = await buildImage({ imagesDir, uidBase, force: options.force, onProgress: (p) => reporter.onProgress(p) });
    reporter.stop();
    if (image.cached) {
      process.stdout.write(`✓ base image (cached) ${image.hash}: ${image.rootfs}\n`);
    } else {
      const mb = (image.info.sizeBytes / 1e6).toFixed(0);
      process.stdout.write(
        `✓ base image built in ${image.info.buildSeconds} s: ${image.hash}, ${mb} MB, ${image.info.packages.length} packages → ${image.rootfs}\n`,
      );
    }
    return 0;
  } catch (error) {
    reporter.stop();
    process.stderr.write(`✗ base image build failed: ${(error as Error).message}\n`);
    return 1;
  }
}
