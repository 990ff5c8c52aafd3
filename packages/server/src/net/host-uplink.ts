/**
 * The `host` uplink (the default; tested in a fake host: e2e/default-config.itest.ts): the
 * router's uplink veth ends in the host's namespace, and the host NATs the router's transit
 * address out of its default route.
 *
 * Host changes, all undone by teardown():
 * - nft table `inet <name>`: masquerade of the transit address; nothing arriving from the
 *   uplink veth may reach the host itself (its services, the daemon's API) except replies.
 * - net.ipv4.ip_forward = 1 (the host must route the router's packets). Restored to its previous
 *   value when the daemon stops (kept in `stateFile` meanwhile, so a crashed daemon's successor
 *   still restores it). IPv6 forwarding is NOT switched on (it would change how the host
 *   takes router advertisements); sandboxes get IPv6 egress only if the host already forwards it.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { type CommandRunner, HostCommandError } from "../host/run-command.js";

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

export class HostUplink {
  private previousForward: string | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly table: string,
    private readonly peerIf: string,
    private readonly routerAddr4: string,
    /** Remembers ip_forward's value before the first daemon changed it. */
    private readonly stateFile: string,
  ) {}

  async setup(): Promise<void> {
    // Replaced in one transaction (add, delete, create): a daemon taking over a running router
    // never leaves the host without the table, not even for a moment.
    await this.runner.run("nft", ["-f", "-"], {
      input: `
table inet ${this.table} {}
delete table inet ${this.table}
table inet ${this.table} {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "${this.peerIf}" ct state established,related accept
    iifname "${this.peerIf}" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    oifname "${this.peerIf}" ct state established,related accept
    oifname "${this.peerIf}" drop
  }
  chain nat_out {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${this.routerAddr4} oifname != "${this.peerIf}" masquerade
  }
}
`,
    });
    const saved = await readFile(this.stateFile, "utf8").catch(() => undefined);
    const current = (await readFile(IP_FORWARD, "utf8")).trim();
    this.previousForward = saved?.trim() ?? (current !== "1" ? current : undefined);
    if (this.previousForward !== undefined) await writeFile(this.stateFile, `${this.previousForward}\n`);
    if (current !== "1") await writeFile(IP_FORWARD, "1\n");
  }

  async teardown(): Promise<void> {
    await HostUplink.removeTable(this.runner, this.table);
    if (this.previousForward !== undefined) {
      await writeFile(IP_FORWARD, `${this.previousForward}\n`);
      this.previousForward = undefined;
      await rm(this.stateFile, { force: true });
    }
  }

  /** Deletes the host table if it exists (also used by reconcile after a crash). */
  static async removeTable(runner: CommandRunner, table: string): Promise<void> {
    try {
      await runner.run("nft", ["delete", "table", "inet", table]);
    } catch (err) {
      if (!(err instanceof HostCommandError) || !/No such file|does not exist/i.test(err.stderr)) throw err;
    }
  }
}
