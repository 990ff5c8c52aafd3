import type { Command } from "commander";
import { createDaemonLogger, startDaemon } from "../daemon.js";
import { type DaemonConfig, type ServeFlags, resolveConfig } from "../daemon-config.js";
import { installLastResort } from "./last-resort.js";
import { describeStartupFailure } from "./startup-failure.js";

/**
 * `atoll serve [--state-dir DIR] [--listen HOST:PORT]`: runs the daemon in the foreground. A start
 * that fails prints one line (what is missing, how to fix it) and exits 1; bad flags exit 2.
 */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the Atoll daemon (API, sandboxes, volumes, dashboard) in the foreground")
    .option("--state-dir <dir>", "state directory (token, store, volumes)", undefined)
    .option("--listen <host:port>", "address to listen on", undefined)
    .option("--images-dir <dir>", "where base images are built and kept")
    .option("--log-level <level>", "trace|debug|info|warn|error", undefined)
    .option("--stale-after <duration>", "dashboard: mark volumes unattached for this long as stale (default 7d)", undefined)
    .option("--network <on|off>", "sandbox networks (ATOLL_NETWORK, default on; off = loopback only)", undefined)
    .option("--uplink <host|none|netns:NAME>", "where sandbox traffic leaves (ATOLL_UPLINK, default host)", undefined)
    .option("--dns <host|none|static:FILE>", "upstream of the sandbox resolver (ATOLL_DNS; default host with --uplink host, else none)", undefined)
    .option("--net-range <cidr>", "private IPv4 range for sandbox addresses (ATOLL_NET_RANGE, default 10.73.0.0/16)", undefined)
    .option("--upstream-ca <file>", "extra PEM CA the egress proxy trusts for upstream servers (ATOLL_UPSTREAM_CA)", undefined)
    .option(
      "--expose-domain <[scheme://]domain[:port]>",
      "serve exposed ports at <token>.<domain> on a listener of their own (ATOLL_EXPOSE_DOMAIN; default: a loopback address per exposed port)",
      undefined,
    )
    .option("--expose-listen <host:port>", "where the --expose-domain listener binds (ATOLL_EXPOSE_LISTEN, default the API's host, port 7421)", undefined)
    .option("--disk-reserve <size>", "disk space always left free in the state directory (ATOLL_DISK_RESERVE, default 5%, 256MiB-10GiB)", undefined)
    .option(
      "--rootfs-overcommit <on|off>",
      "share the disk fairly between sandbox roots (on, default) or reserve every rootfsSize in full (off) (ATOLL_ROOTFS_OVERCOMMIT)",
      undefined,
    )
    .option(
      "--net-open <list>",
      "closed destinations every tenant's sandboxes may reach: categories (metadata, private, link-local, loopback, cgnat, documentation, nat64, multicast, reserved) or CIDRs, comma-separated (ATOLL_NET_OPEN; default none)",
      undefined,
    )
    .option(
      "--stop-sandboxes-on-exit",
      "stop every sandbox when the daemon exits (ATOLL_STOP_SANDBOXES_ON_EXIT=1; default: they keep running and the next daemon adopts them)",
    )
    .option("--audit-retention <duration>", "how long the audit trail keeps entries (ATOLL_AUDIT_RETENTION, default 90d)", undefined)
    .action(async (opts: ServeFlags) => {
      let config: DaemonConfig;
      try {
        config = resolveConfig(opts);
      } catch (err) {
        process.stderr.write(`atoll serve: ${(err as Error).message}\n`);
        process.exit(2);
      }
      const logger = createDaemonLogger(config.logLevel);
      installLastResort(logger);
      // Signal handlers first: a SIGTERM that arrives while the daemon starts, or right after
      // the banner, stops it cleanly once it is up instead of killing it mid-way (which would
      // leave its mounts and loop devices for the next start to clean up).
      let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
      let signalled: NodeJS.Signals | undefined;
      const stop = (running: NonNullable<typeof daemon>, signal: NodeJS.Signals) => {
        running.logger.info({ signal }, "signal received");
        void running.stop({ keepSandboxes: !config.stopSandboxesOnExit }).then(
          () => process.exit(0),
          (err: unknown) => {
            running.logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      const onSignal = (signal: NodeJS.Signals) => {
        if (signalled) return; // already stopping
        signalled = signal;
        if (daemon) stop(daemon, signal);
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      daemon = await startDaemon(config, logger).catch((err: unknown) => {
        // The operator's to fix: one line on stderr, the stack only in the debug log.
        logger.debug({ err }, "start-up failed");
        process.stderr.write(`atoll serve: ${describeStartupFailure(err, config)}\n`);
        process.exit(1);
      });
      if (signalled) return stop(daemon, signalled);
      // For people (npm start); the JSON log line "listening" carries the same for programs.
      process.stderr.write(`\nAtoll is ready: ${daemon.url}\n  dashboard: ${daemon.url}/\n  API token: ${daemon.tokenFile}\n  ${daemon.adoption}\n\n`);
    });
}
