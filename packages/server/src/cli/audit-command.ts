/** `atoll audit [--tenant T] [--since 1h] [--limit N] [--json]`: the audit trail through the SDK. */
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";
import { formatTable } from "./table-format.js";

/**
 * Adds `atoll audit`.
 *
 * @example registerAuditCommand(program); // atoll audit --since 1h
 */
export function registerAuditCommand(program: Command): void {
  program
    .command("audit")
    .description("state-changing API calls, newest first (admins: every tenant; others: their own)")
    .option("--tenant <name>", "only this tenant (admin tokens)")
    .option("--since <when>", 'a duration back from now ("1h", "7d") or an ISO time', "24h")
    .option("--limit <n>", "at most this many entries (1-1000)", "100")
    .option("--json", "print JSON lines")
    .action(
      clientAction(async (flags: { tenant?: string; since: string; limit: string; json?: boolean }) => {
        const entries = await clientFrom(program).admin.audit({
          ...(flags.tenant ? { tenant: flags.tenant } : {}),
          since: flags.since,
          limit: Number(flags.limit),
        });
        if (flags.json) {
          for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
          return;
        }
        const rows = entries.map((e) => [e.at, e.tenant || "-", e.tokenId || "-", e.action, e.target || "-", e.outcome]);
        process.stdout.write(`${formatTable(["TIME", "TENANT", "TOKEN", "ACTION", "TARGET", "OUTCOME"], rows)}\n`);
      }),
    );
}
