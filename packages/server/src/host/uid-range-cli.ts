#!/usr/bin/env node
/**
 * Standalone entry for scripts/setup.sh:
 *   node packages/server/dist/host/uid-range-cli.js [--state-dir DIR]
 * Decides the sandbox id range the daemon of DIR ($ATOLL_STATE_DIR, default /var/lib/atoll) will
 * use (host/uid-range.ts; honours ATOLL_UID_BASE and ATOLL_ETC_DIR), reserves it in /etc/subuid
 * and /etc/subgid, reports on stderr and prints the base on stdout (for the base image build).
 * Exit 1, with the reason and the fix, when the host gave those ids to someone.
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { DEFAULT_STATE_DIR } from "../daemon-config.js";
import { readHostIds } from "./subid-files.js";
import { RESERVED_ID_COUNT, UidRangeError, formatRange, planForStateDir } from "./uid-range.js";
import { reserveUidRange } from "./uid-reservation.js";

const opts = new Command("uid-range")
  .description("Check and reserve the host ids Atoll's sandboxes run as")
  .option("--state-dir <dir>", "state directory (default $ATOLL_STATE_DIR or /var/lib/atoll)")
  .parse()
  .opts<{ stateDir?: string }>();

const stateDir = resolve(opts.stateDir ?? process.env.ATOLL_STATE_DIR ?? DEFAULT_STATE_DIR);
const etcDir = process.env.ATOLL_ETC_DIR || "/etc";
const requested = process.env.ATOLL_UID_BASE ? Number(process.env.ATOLL_UID_BASE) : undefined;
try {
  const plan = planForStateDir(stateDir, requested, readHostIds(etcDir));
  reserveUidRange(etcDir, plan.base);
  const range = formatRange(plan.base, RESERVED_ID_COUNT);
  process.stderr.write(`✓ sandbox id range ${range} (${plan.reason}), reserved in ${etcDir}/subuid and ${etcDir}/subgid\n`);
  if (plan.from !== undefined) {
    process.stderr.write(`  the daemon moves the volumes' files from base ${plan.from} to ${plan.base} when it next starts\n`);
  }
  process.stdout.write(`${plan.base}\n`);
} catch (err) {
  if (!(err instanceof UidRangeError)) throw err;
  process.stderr.write(`✗ ${err.message}\n`);
  process.exitCode = 1;
}
