#!/usr/bin/env node
/**
 * Standalone entry for scripts/setup.sh:
 *   node packages/server/dist/image/build-image-cli.js [--images-dir DIR] [--uid-base N] [--force] [--check]
 * Same behaviour as `atoll image build`.
 */
import { Command, InvalidArgumentError } from "commander";
import { runImageBuildCommand } from "./image-command.js";

function parseUidBase(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

const program = new Command("build-image")
  .description("Build the Atoll base image (Debian bookworm minbase) unless it exists already")
  .option("--images-dir <dir>", "where images are stored (default $ATOLL_IMAGES_DIR or /var/lib/atoll/images)")
  .option("--uid-base <n>", "first host uid of the sandbox range (default $ATOLL_UID_BASE or 1879048192)", parseUidBase)
  .option("--force", "rebuild even if the image exists")
  .option("--check", "print the rootfs path and exit 0 if the image exists, exit 1 otherwise; never builds")
  .parse();

const opts = program.opts<{ imagesDir?: string; uidBase?: number; force?: boolean; check?: boolean }>();
process.exitCode = await runImageBuildCommand(opts);
