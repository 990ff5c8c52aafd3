/** `atoll snapshot create|ls|rm`: volume snapshots (docs/snapshots.md) through the SDK. */
import { formatBytes } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";
import { formatTable, timeAgo } from "./table-format.js";

/**
 * Adds `atoll snapshot …` to the root program. Reads `--url`/`--token` from `program.opts()`.
 *
 * @example registerSnapshotCommands(program); // atoll snapshot create cache nightly
 */
export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command("snapshot").description("take, list and delete read-only snapshots of volumes");

  snapshot
    .command("create")
    .description("snapshot a volume (also while sandboxes write to it) and print the snapshot's id")
    .argument("<volume>", "volume name or id")
    .argument("<name>", "snapshot name: 1-63 characters of a-z 0-9 - _ .")
    .action(
      clientAction(async (volume: string, name: string) => {
        const snap = await (await clientFrom(program).getVolume(volume)).snapshot({ name });
        process.stdout.write(`${snap.id}\n`);
      }),
    );

  snapshot
    .command("ls")
    .description("list snapshots, newest first")
    .option("--volume <nameOrId>", "only the snapshots of this volume (by the name or id it had)")
    .option("--json", "print JSON")
    .action(
      clientAction(async (flags: { volume?: string; json?: boolean }) => {
        const all = await clientFrom(program).listSnapshots();
        const shown = flags.volume === undefined ? all : all.filter((s) => s.volumeId === flags.volume || s.volumeName === flags.volume);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
          return;
        }
        const rows = shown.map((s) => [s.name, s.id, s.volumeName, formatBytes(s.capacityBytes), formatBytes(s.allocatedBytes), timeAgo(s.createdAt)]);
        process.stdout.write(`${formatTable(["NAME", "ID", "VOLUME", "SIZE", "HELD ALONE", "TAKEN"], rows)}\n`);
      }),
    );

  snapshot
    .command("rm")
    .description("delete snapshots (volumes made from them are not affected)")
    .argument("<namesOrIds...>", "snapshot names or ids")
    .action(
      clientAction(async (namesOrIds: string[]) => {
        const client = clientFrom(program);
        for (const nameOrId of namesOrIds) {
          await client.deleteSnapshot(nameOrId);
          process.stdout.write(`${nameOrId}\n`);
        }
      }),
    );
}
