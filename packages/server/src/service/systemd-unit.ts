import { isAbsolute } from "node:path";
import { InvalidArgumentError } from "atoll/contract";

/** What the unit runs: `node main.js serve --state-dir … --listen …`, plus ATOLL_* settings. */
export interface UnitSpec {
  /** Absolute path of node. */
  node: string;
  /** Absolute path of the CLI (dist/cli/main.js). */
  main: string;
  stateDir: string;
  listen: string;
  /** Extra environment for the daemon (ATOLL_NETWORK=off, ATOLL_AUDIT_RETENTION=30d, …). */
  env: Record<string, string>;
}

/** Unit names `atoll service` accepts: `atoll`, `atoll-test`, … */
export const UNIT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ENV_KEY = /^ATOLL_[A-Z0-9_]{1,64}$/;

/**
 * One ExecStart/Environment word as systemd reads it: double-quoted when it has anything but
 * plain characters, with `\` and `"` escaped, and `%` / `$` doubled (systemd expands them).
 * Control characters are refused (they cannot be written on one unit line).
 */
export function systemdWord(word: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (/[\u0000-\u001f\u007f]/.test(word)) throw new InvalidArgumentError(`${JSON.stringify(word)} has a control character: it cannot go into a unit file`);
  const escaped = word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /^[A-Za-z0-9_@./:=,+-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The systemd unit of `atoll serve` (docs/operations.md, "Running as a service").
 *
 * @example renderUnit({ node: "/usr/bin/node", main: "/opt/atoll/packages/server/dist/cli/main.js", stateDir: "/var/lib/atoll", listen: "127.0.0.1:7420", env: {} })
 */
export function renderUnit(spec: UnitSpec): string {
  for (const p of [spec.node, spec.main, spec.stateDir]) if (!isAbsolute(p)) throw new InvalidArgumentError(`${p} must be an absolute path`);
  for (const key of Object.keys(spec.env))
    if (!ENV_KEY.test(key)) throw new InvalidArgumentError(`--env ${key}: only ATOLL_* settings are passed to the daemon (docs/operations.md)`);
  const exec = [spec.node, spec.main, "serve", "--state-dir", spec.stateDir, "--listen", spec.listen].map(systemdWord).join(" ");
  const env = Object.entries(spec.env).map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}\n`);
  return `# Written by \`atoll service install\`; \`atoll service uninstall\` removes it (docs/operations.md).
[Unit]
Description=Atoll sandbox daemon
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${exec}
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
${env.join("")}Restart=on-failure
RestartSec=2s
# Sandboxes outlive the daemon: each has its own supervisor (atoll-shim) in a session of its own,
# which a restarted daemon adopts. The default KillMode=control-group would kill every process
# of this unit on stop or restart, sandboxes included; with KillMode=process systemd signals the
# daemon's main process only, and the daemon decides what ends with it.
KillMode=process
KillSignal=SIGTERM
TimeoutStopSec=60s
# Sandboxes, their launchers and host commands are many processes and open files.
LimitNOFILE=1048576
TasksMax=infinity
StandardOutput=journal
StandardError=journal
SyslogIdentifier=atoll

[Install]
WantedBy=multi-user.target
`;
}
