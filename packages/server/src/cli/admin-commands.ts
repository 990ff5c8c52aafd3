/** `atoll token create|ls|revoke` and `atoll tenant ls|quota`: the admin API through the SDK. */
import { InvalidArgumentError } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom, collect } from "./client-action.js";
import { formatTable, timeAgo } from "./table-format.js";

/** "10" → 10, "none" → null (no limit), anything else is refused. */
export function parseLimit(value: string, what: string): number | null {
  if (value === "none") return null;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what} "${value}" must be a number ≥ 0 or "none"`);
  return n;
}

/**
 * Adds `atoll token …` and `atoll tenant …` (admin token needed).
 *
 * @example registerAdminCommands(program); // atoll token create --tenant team-a
 */
export function registerAdminCommands(program: Command): void {
  const token = program.command("token").description("API tokens, each bound to a tenant (admin)");
  token
    .command("create")
    .description("create a token and print it (shown only once)")
    .requiredOption("--tenant <name>", "tenant the token acts in (created if new)")
    .option("--name <name>", "a label for the token")
    .option("--admin", "the token may also manage tokens and quotas")
    .action(
      clientAction(async (flags: { tenant: string; name?: string; admin?: boolean }) => {
        const created = await clientFrom(program).admin.createToken({
          tenant: flags.tenant,
          ...(flags.name ? { name: flags.name } : {}),
          admin: flags.admin ?? false,
        });
        process.stdout.write(`${created.token}\n`);
        process.stderr.write(`token ${created.id} for tenant ${created.tenant}${created.admin ? " (admin)" : ""}: store it now, it is not shown again\n`);
      }),
    );
  token
    .command("ls")
    .description("list tokens (never their values)")
    .action(
      clientAction(async () => {
        const rows = (await clientFrom(program).admin.listTokens()).map((t) => [
          t.id,
          t.tenant,
          t.name,
          t.admin ? "yes" : "no",
          timeAgo(t.lastUsedAt),
          t.revokedAt ? `revoked ${timeAgo(t.revokedAt)}` : "live",
        ]);
        process.stdout.write(`${formatTable(["ID", "TENANT", "NAME", "ADMIN", "LAST USED", "STATE"], rows)}\n`);
      }),
    );
  token
    .command("revoke")
    .description("revoke a token at once")
    .argument("<id>", "token id (tok_…)")
    .action(
      clientAction(async (id: string) => {
        await clientFrom(program).admin.revokeToken(id);
        process.stdout.write(`revoked ${id}\n`);
      }),
    );

  const tenant = program.command("tenant").description("tenants and their quotas (admin)");
  tenant
    .command("ls")
    .description("list tenants with their usage and quotas")
    .action(
      clientAction(async () => {
        const rows = (await clientFrom(program).admin.listTenants()).map((t) => [
          t.name,
          `${t.sandboxes} / ${t.maxSandboxes ?? "∞"}`,
          `${t.volumeGb} / ${t.maxVolumeGb ?? "∞"}`,
          t.netOpen.length > 0 ? t.netOpen.join(",") : "-",
        ]);
        process.stdout.write(`${formatTable(["TENANT", "SANDBOXES", "VOLUME GiB", "NET OPEN"], rows)}\n`);
      }),
    );
  tenant
    .command("quota")
    .description("set a tenant's limits")
    .argument("<name>", "tenant")
    .requiredOption("--max-sandboxes <n|none>", "running sandboxes at most")
    .requiredOption("--max-volume-gb <GiB|none>", "sum of volume sizes at most")
    .action(
      clientAction(async (name: string, flags: { maxSandboxes: string; maxVolumeGb: string }) => {
        const t = await clientFrom(program).admin.setQuota(name, {
          maxSandboxes: parseLimit(flags.maxSandboxes, "--max-sandboxes"),
          maxVolumeGb: parseLimit(flags.maxVolumeGb, "--max-volume-gb"),
        });
        process.stdout.write(`${t.name}: at most ${t.maxSandboxes ?? "∞"} sandboxes, ${t.maxVolumeGb ?? "∞"} GiB of volumes\n`);
      }),
    );
  tenant
    .command("net")
    .description("open closed destinations (cloud metadata, private networks, …) to a tenant's sandboxes")
    .argument("<name>", "tenant")
    .option(
      "--open <category|cidr>",
      "metadata, link-local, loopback, private, cgnat, documentation, nat64, multicast, reserved, or a CIDR (repeatable)",
      collect,
    )
    .option("--close-all", "close every special range again (the default)")
    .action(
      clientAction(async (name: string, flags: { open?: string[]; closeAll?: boolean }) => {
        const open = flags.open ?? [];
        if (!!flags.closeAll === open.length > 0) throw new InvalidArgumentError("give --open (repeatable) or --close-all");
        const t = await clientFrom(program).admin.setNetAccess(name, { open });
        process.stdout.write(`${t.name}: ${t.netOpen.length > 0 ? `may also reach ${t.netOpen.join(", ")}` : "closed ranges stay closed"}\n`);
      }),
    );
}
