/**
 * `atoll volume export NAME [--snapshot ID] [-o FILE]` and `atoll volume import FILE --name NAME
 * [--size GiB]` (docs/operations.md "Back up and restore"): the archive streams between the
 * daemon and a file (or stdout / stdin, `-`), never held in memory.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import { InvalidArgumentError } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";

/**
 * Adds `export` and `import` to `atoll volume`.
 *
 * @example registerBackupCommands(volume, program); // atoll volume export cache > cache.atollvol
 */
export function registerBackupCommands(volume: Command, program: Command): void {
  volume
    .command("export")
    .description("write a compressed, checksummed archive of a volume's files to stdout (or -o FILE)")
    .argument("<nameOrId>", "volume name or id")
    .option("--snapshot <idOrName>", "export this snapshot of the volume instead of its data now")
    .option("-o, --output <file>", "write the archive to this file instead of stdout")
    .action(
      clientAction(async (nameOrId: string, flags: { snapshot?: string; output?: string }) => {
        if (!flags.output && process.stdout.isTTY) {
          throw new InvalidArgumentError("The archive is binary: redirect stdout to a file (atoll volume export NAME > FILE) or use -o FILE.");
        }
        const client = clientFrom(program);
        const found = await client.getVolume(nameOrId);
        const archive = await found.export({ snapshot: flags.snapshot });
        const sink = flags.output ? createWriteStream(flags.output, { mode: 0o600 }) : process.stdout;
        try {
          await archive.pipeTo(Writable.toWeb(sink) as WritableStream<Uint8Array>);
        } catch (err) {
          // A half-written file would only fail later, at import: leave none.
          if (flags.output) await rm(flags.output, { force: true });
          throw err;
        }
      }),
    );

  volume
    .command("import")
    .description("create a volume from an archive made by `atoll volume export` (FILE, or - for stdin); prints its id")
    .argument("<file>", "the archive, or - to read it from stdin")
    .requiredOption("--name <name>", "name of the new volume")
    .option("--size <GiB>", "size in GiB (default: the exported volume's)")
    .action(
      clientAction(async (file: string, flags: { name: string; size?: string }) => {
        const sizeGb = flags.size === undefined ? undefined : Number(flags.size);
        if (sizeGb !== undefined && (flags.size?.trim() === "" || !Number.isFinite(sizeGb))) {
          throw new InvalidArgumentError(`--size "${flags.size}" is not a number of GiB; use e.g. --size 5`);
        }
        const source = file === "-" ? process.stdin : createReadStream(file);
        const archive = Readable.toWeb(source) as ReadableStream<Uint8Array>;
        const created = await clientFrom(program).importVolume(archive, { name: flags.name, ...(sizeGb === undefined ? {} : { sizeGb }) });
        process.stdout.write(`${created.id}\n`);
      }),
    );
}
