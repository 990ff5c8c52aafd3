/** `atoll service install|uninstall`: run `atoll serve` as a systemd service (docs/operations.md). */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { DEFAULT_LISTEN, DEFAULT_STATE_DIR, parseListen } from "../daemon-config.js";
import { installService, uninstallService } from "../service/service-install.js";
import { renderUnit } from "../service/systemd-unit.js";
import { clientAction, collect, parsePairs } from "./client-action.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

/**
 * Adds `atoll service install [--print] [--root DIR]` and `atoll service uninstall [--root DIR]`.
 *
 * @example registerServiceCommand(program); // atoll service install --state-dir /srv/atoll --listen 0.0.0.0:7420
 */
export function registerServiceCommand(program: Command): void {
  const service = program.command("service").description("run `atoll serve` as a systemd service");
  service
    .command("install")
    .description("write the systemd unit of `atoll serve` and enable and start it (--print: only show it)")
    .option("--state-dir <dir>", "state directory the service uses (ATOLL_STATE_DIR)", process.env.ATOLL_STATE_DIR ?? DEFAULT_STATE_DIR)
    .option("--listen <host:port>", "address the service listens on (ATOLL_LISTEN)", process.env.ATOLL_LISTEN ?? DEFAULT_LISTEN)
    .option("--env <KEY=VALUE>", "an ATOLL_* setting for the daemon (repeatable)", collect, [])
    .option("--name <name>", "unit name", "atoll")
    .option("--root <dir>", "write into this system tree instead (systemctl --root enable; nothing is started)")
    .option("--print", "print the unit and change nothing")
    .action(
      clientAction(async (flags: { stateDir: string; listen: string; env: string[]; name: string; root?: string; print?: boolean }) => {
        parseListen(flags.listen);
        const unit = renderUnit({
          node: process.execPath,
          main: MAIN,
          stateDir: resolve(flags.stateDir),
          listen: flags.listen,
          env: parsePairs(flags.env, "--env"),
        });
        if (flags.print) {
          process.stdout.write(unit);
          return;
        }
        const report = installService({ name: flags.name, root: flags.root === undefined ? undefined : resolve(flags.root) }, unit);
        process.stdout.write(`${report.unitFile}: ${report.change}\n`);
        for (const args of report.ran) process.stdout.write(`ran: systemctl ${args.join(" ")}\n`);
        if (flags.root !== undefined && report.ran.length === 0) process.stdout.write("systemctl is not installed: the unit was written, not enabled\n");
      }),
    );
  service
    .command("uninstall")
    .description("stop and disable the service and remove its unit")
    .option("--name <name>", "unit name", "atoll")
    .option("--root <dir>", "remove it from this system tree instead (systemctl --root disable)")
    .action(
      clientAction(async (flags: { name: string; root?: string }) => {
        const report = uninstallService({ name: flags.name, root: flags.root === undefined ? undefined : resolve(flags.root) });
        for (const args of report.ran) process.stdout.write(`ran: systemctl ${args.join(" ")}\n`);
        process.stdout.write(`${report.unitFile}: ${report.change}\n`);
      }),
    );
}
