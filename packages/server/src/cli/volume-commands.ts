/** `atoll volume create|ls|inspect|rm|export|import`: client subcommands that drive the daemon through the SDK. */
import { InvalidArgumentError, type Volume, formatBytes } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";
import { formatTable, timeAgo } from "./table-format.js";
import { registerBackupCommands } from "./backup-commands.js";

/** "sbx_1:/mnt/cache (ro)" for every sandbox that has the volume mounted, or "-". */
function mountedBy(volume: Volume): string {
  return volume.attachments.map((a) => `${a.sandboxId}:${a.mountPath}${a.accessMode === "ro" ? " (ro)" : ""}`).join(", ") || "-";
}

/** "1,204 / 262,144" files (inodes) in use, and "(out of inodes)" when none is left. */
function filesUsed(volume: Volume): string {
  const text = `${volume.usedInodes.toLocaleString("en")} / ${volume.inodeCapacity.toLocaleString("en")}`;
  return volume.usedInodes >= volume.inodeCapacity ? `${text} (out of inodes)` : text;
}

/**
 * Adds `atoll volume …` to the root program. Reads `--url`/`--token` from `program.opts()`.
 *
 * @example registerVolumeCommands(program); // atoll volume create cache --size 5
 */
export function registerVolumeCommands(program: Command): void {
  const volume = program.command("volume").description("create, list, inspect and delete persistent volumes");

  volume
    .command("create")
    .description("create a volume and print its id")
    .argument("<name>", "1-63 characters of a-z 0-9 - _ .")
    .requiredOption("--size <GiB>", "size in GiB, e.g. 5 or 0.5")
    .option(
      "--from <snapshot|builtin:debian-12>",
      "start as a snapshot (id or name, copy-on-write), or as the base image's root filesystem (a bootable volume)",
    )
    .action(
      clientAction(async (name: string, flags: { size: string; from?: string }) => {
        const sizeGb = Number(flags.size);
        if (flags.size.trim() === "" || !Number.isFinite(sizeGb)) {
          throw new InvalidArgumentError(`--size "${flags.size}" is not a number of GiB; use e.g. --size 5`);
        }
        const created = await clientFrom(program).createVolume({ name, sizeGb, ...(flags.from !== undefined ? { from: flags.from } : {}) });
        process.stdout.write(`${created.id}\n`);
      }),
    );

  volume
    .command("ls")
    .description("list volumes")
    .option("--json", "print JSON")
    .action(
      clientAction(async (flags: { json?: boolean }) => {
        const volumes = await clientFrom(program).listVolumes();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(volumes, null, 2)}\n`);
          return;
        }
        const rows = volumes.map((v) => [
          v.name,
          v.id,
          `${formatBytes(v.usedBytes)} / ${formatBytes(v.capacityBytes)}`,
          filesUsed(v),
          mountedBy(v),
          v.attachments.length > 0 ? "now" : timeAgo(v.lastAttachedAt),
        ]);
        process.stdout.write(`${formatTable(["NAME", "ID", "USED / CAPACITY", "FILES", "MOUNTED BY", "LAST USED"], rows)}\n`);
      }),
    );

  volume
    .command("inspect")
    .description("print a volume as JSON")
    .argument("<nameOrId>", "volume name or id")
    .action(
      clientAction(async (nameOrId: string) => {
        const found = await clientFrom(program).getVolume(nameOrId);
        process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      }),
    );

  volume
    .command("rm")
    .description("delete volumes and their data")
    .argument("<namesOrIds...>", "volume names or ids")
    .option("--force", "detach from every sandbox first instead of failing while mounted")
    .action(
      clientAction(async (namesOrIds: string[], flags: { force?: boolean }) => {
        const client = clientFrom(program);
        for (const nameOrId of namesOrIds) {
          await client.deleteVolume(nameOrId, { force: flags.force });
          process.stdout.write(`${nameOrId}\n`);
        }
      }),
    );

  registerBackupCommands(volume, program);
}
