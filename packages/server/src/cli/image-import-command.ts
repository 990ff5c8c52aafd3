/** `atoll image import FILE --name NAME [--size N]`: an OCI image archive becomes a bootable snapshot (docs/images.md). */
import { createReadStream, statSync } from "node:fs";
import { Readable } from "node:stream";
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";

/**
 * Adds `import` to the `atoll image` command; prints the new snapshot's id.
 *
 * @example registerImageImportCommand(program, imageCommand); // atoll image import app.tar --name app
 */
export function registerImageImportCommand(program: Command, image: Command): void {
  image
    .command("import")
    .description("import an OCI image archive (docker save output or an OCI layout tarball) as a bootable snapshot; boot it with --root NAME")
    .argument("<file>", "the archive (plain, gzip or zstd)")
    .requiredOption("--name <name>", "snapshot name: 1-63 characters of a-z 0-9 - _ .")
    .option("--size <gb>", "size in GiB (default: what the image needs, a quarter to spare); also the largest archive accepted", Number)
    .action(
      clientAction(async (file: string, flags: { name: string; size?: number }) => {
        statSync(file); // a missing file is named as such, not as a failed upload
        const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
        const snap = await clientFrom(program).importImage(body, { name: flags.name, ...(flags.size === undefined ? {} : { sizeGb: flags.size }) });
        process.stdout.write(`${snap.id}\n`);
      }),
    );
}
