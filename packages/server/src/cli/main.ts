#!/usr/bin/env node
import { Command } from "commander";
import { runImageBuildCommand } from "../image/image-command.js";
import { registerAdminCommands } from "./admin-commands.js";
import { registerAuditCommand } from "./audit-command.js";
import { registerServiceCommand } from "./service-command.js";
import { registerCpCommand } from "./cp-command.js";
import { registerDoctorCommand } from "./doctor-command.js";
import { registerSandboxCommands } from "./sandbox-commands.js";
import { registerServeCommand } from "./serve-command.js";
import { registerVolumeCommands } from "./volume-commands.js";
import { registerSnapshotCommands } from "./snapshot-commands.js";
import { registerImageImportCommand } from "./image-import-command.js";

/**
 * The `atoll` command: `serve` runs the daemon; the other subcommands are clients that use the
 * SDK against ATOLL_URL (or --url) with ATOLL_TOKEN (or --token, or the local token file).
 */
const program = new Command("atoll")
  .description("Atoll: self-hosted sandboxes with persistent volumes")
  .option("--url <url>", "daemon URL (default $ATOLL_URL or http://127.0.0.1:7420)")
  .option("--token <token>", "API token (default $ATOLL_TOKEN or the local token file)")
  .enablePositionalOptions()
  .showHelpAfterError();

registerServeCommand(program);
registerDoctorCommand(program);
registerSandboxCommands(program);
registerVolumeCommands(program);
registerSnapshotCommands(program);
registerCpCommand(program);
registerAdminCommands(program);
registerAuditCommand(program);
registerServiceCommand(program);

const image = program.command("image").description("base images, and OCI images imported as bootable snapshots");
registerImageImportCommand(program, image);
image
  .command("build")
  .description("build the default base image if it is missing")
  .option("--images-dir <dir>", "where images are kept")
  .option("--force", "rebuild even if it exists")
  .action(async (opts: { imagesDir?: string; force?: boolean }) => {
    process.exitCode = await runImageBuildCommand(opts);
  });

await program.parseAsync(process.argv);
