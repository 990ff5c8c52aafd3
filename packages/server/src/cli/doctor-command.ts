import type { Command } from "commander";
import { resolveConfig } from "../daemon-config.js";
import { doctorContext, runDoctor } from "../doctor/doctor.js";
import { formatReport, reportJson } from "../doctor/doctor-report.js";

interface DoctorFlags {
  stateDir?: string;
  listen?: string;
  imagesDir?: string;
  network?: string;
  diskReserve?: string;
  json?: boolean;
}

/**
 * `atoll doctor`: can this host run the daemon (with the same flags and ATOLL_* variables as
 * `atoll serve`)? One line per check, ✔/⚠/✘ with the fix; exit 1 when a check failed (the
 * daemon could not run), 0 otherwise (warnings included), 2 for bad flags.
 */
export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check that this host can run the Atoll daemon; prints the fix for each problem")
    .option("--state-dir <dir>", "state directory the daemon would use (ATOLL_STATE_DIR)")
    .option("--listen <host:port>", "address the daemon would listen on (ATOLL_LISTEN)")
    .option("--images-dir <dir>", "where base images are kept (ATOLL_IMAGES_DIR)")
    .option("--network <on|off>", "sandbox networks (ATOLL_NETWORK; off: nftables and iproute2 are not needed)")
    .option("--disk-reserve <size>", "disk space the daemon keeps free (ATOLL_DISK_RESERVE)")
    .option("--json", "print the report as JSON")
    .action(async (opts: DoctorFlags) => {
      let config: ReturnType<typeof resolveConfig>;
      try {
        config = resolveConfig(opts);
      } catch (err) {
        process.stderr.write(`atoll doctor: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const report = await runDoctor(doctorContext(config));
      process.stdout.write(
        opts.json
          ? reportJson(report)
          : formatReport(report, `state directory ${config.stateDir}, API ${opts.listen ?? process.env.ATOLL_LISTEN ?? `${config.host}:${config.port}`}`),
      );
      process.exitCode = report.ok ? 0 : 1;
    });
}
