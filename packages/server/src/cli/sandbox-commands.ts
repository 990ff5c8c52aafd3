/**
 * `atoll sandbox create|ls|exec|kill`: client subcommands that drive the daemon through the SDK.
 */
import { constants } from "node:os";
import { type ChildProcess, type CreateSandboxRequest, InvalidArgumentError, type VolumeMountRequest, formatBytes } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom, collect, parsePairs, printError } from "./client-action.js";
import { forEachConcurrently } from "../core/for-each-concurrently.js";
import { formatTable, timeAgo } from "./table-format.js";

/** Kills `atoll sandbox kill` has in flight at once. */
const KILL_CONCURRENCY = 16;

/** CLI sandboxes outlive the command that creates them, so they get a fixed lifetime. */
const DEFAULT_CLI_TIMEOUT = "5m";

/**
 * Parses `--volume NAME:/path[:ro|:rw]` (NAME may also be a volume id).
 *
 * @example parseVolumeFlag("cache:/mnt/cache:ro") // { id: "cache", mountPath: "/mnt/cache", accessMode: "ro" }
 */
export function parseVolumeFlag(flag: string): VolumeMountRequest {
  const colon = flag.indexOf(":");
  if (colon <= 0 || flag[colon + 1] !== "/") {
    throw new InvalidArgumentError(`--volume "${flag}" must look like NAME:/mount/path or NAME:/mount/path:ro`);
  }
  let mountPath = flag.slice(colon + 1);
  let accessMode: "rw" | "ro" = "rw";
  const mode = /:(ro|rw)$/.exec(mountPath);
  if (mode) {
    accessMode = mode[1] as "rw" | "ro";
    mountPath = mountPath.slice(0, -3);
  }
  return { id: flag.slice(0, colon), mountPath, accessMode };
}

/** Exit status for a finished remote command, shell-style: the code, or 128 + signal number. */
export function exitCodeOf(status: { code: number | null; signal: string | null }): number {
  if (status.code !== null) return status.code;
  const n = status.signal ? (constants.signals as Record<string, number>)[status.signal] : undefined;
  return n ? 128 + n : 1;
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return n;
}

interface CreateFlags {
  memory?: string;
  timeout: string;
  label?: string[];
  volume?: string[];
  env?: string[];
  pids?: string;
  cpuWeight?: string;
  rootfsSize?: string;
  allowNet?: string[];
  net?: boolean;
  root?: string;
}

/** Streams this process's stdin into the remote process, then closes it. */
async function pipeOwnStdin(child: ChildProcess): Promise<void> {
  const writer = child.stdin!.getWriter();
  try {
    for await (const chunk of process.stdin) await writer.write(chunk as Buffer);
    await writer.close();
  } catch {
    // The remote process exited before reading everything, as `head` does: not an error.
  }
}

/** Waits until what we wrote to our stdout/stderr has been handed to the OS. */
function flushOutput(): Promise<void> {
  const flush = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => s.write("", () => resolve()));
  return Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => undefined);
}

/**
 * Adds `atoll sandbox …` to the root program. Reads `--url`/`--token` from `program.opts()`.
 *
 * @example registerSandboxCommands(program); // atoll sandbox create --memory 1GiB
 */
export function registerSandboxCommands(program: Command): void {
  const sandbox = program.command("sandbox").description("create, list, run commands in and kill sandboxes").enablePositionalOptions();

  sandbox
    .command("create")
    .description("create a sandbox and print its id")
    .option("--memory <size>", "memory limit, e.g. 512MiB or 2GiB")
    .option("--timeout <duration>", "lifetime, e.g. 90s, 5m, 1h", DEFAULT_CLI_TIMEOUT)
    .option("--label <key=value>", "label (repeatable)", collect)
    .option("--volume <name:/path[:ro]>", "mount a volume (repeatable)", collect)
    .option("--env <KEY=VALUE>", "environment variable (repeatable)", collect)
    .option("--pids <n>", "process limit")
    .option("--cpu-weight <n>", "CPU weight (1-10000, default 100)")
    .option("--rootfs-size <size>", "root filesystem size, e.g. 10GiB")
    .option("--allow-net <rule>", "allowed egress: host, host:port, *.domain, IP, CIDR, [IPv6] (repeatable)", collect)
    .option("--no-net", "no egress at all (allowNet: [])")
    .option("--root <volume|snapshot>", "boot from a bootable volume (read-write) or snapshot (id or name) instead of the default image")
    .action(
      clientAction(async (flags: CreateFlags) => {
        if (flags.timeout === "session") {
          throw new InvalidArgumentError('--timeout session would end the sandbox as soon as this command exits; give a duration such as "30m"');
        }
        const request: CreateSandboxRequest = { timeout: flags.timeout };
        if (flags.memory !== undefined) request.memory = flags.memory;
        if (flags.label) request.labels = parsePairs(flags.label, "--label");
        if (flags.env) request.env = parsePairs(flags.env, "--env");
        if (flags.volume) request.volumes = flags.volume.map(parseVolumeFlag);
        if (flags.pids !== undefined) request.pids = integer(flags.pids);
        if (flags.cpuWeight !== undefined) request.cpuWeight = integer(flags.cpuWeight);
        if (flags.rootfsSize !== undefined) request.rootfsSize = flags.rootfsSize;
        if (flags.root !== undefined) request.root = flags.root;
        if (flags.net === false && flags.allowNet) throw new InvalidArgumentError("give either --no-net or --allow-net, not both");
        if (flags.net === false) request.allowNet = [];
        else if (flags.allowNet) request.allowNet = flags.allowNet;
        const created = await clientFrom(program).createSandbox(request);
        await created.close();
        process.stdout.write(`${created.id}\n`);
      }),
    );

  sandbox
    .command("ls")
    .description("list sandboxes (running ones unless --all)")
    .option("-a, --all", "include stopped sandboxes")
    .option("--label <key=value>", "only sandboxes with this label (repeatable)", collect)
    .option("--json", "print JSON")
    .action(
      clientAction(async (flags: { all?: boolean; label?: string[]; json?: boolean }) => {
        const list = await clientFrom(program).listSandboxes({
          labels: flags.label ? parsePairs(flags.label, "--label") : undefined,
          state: flags.all ? undefined : "running",
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        const rows = list.map((s) => [
          s.id,
          s.state === "stopped" && s.stopReason ? `stopped (${s.stopReason})` : s.state,
          timeAgo(s.createdAt),
          s.state === "stopped" ? "-" : s.expiresAt ? timeAgo(s.expiresAt) : "with session",
          formatBytes(s.memoryBytes),
          s.volumes.map((v) => `${v.volumeName}:${v.mountPath}${v.accessMode === "ro" ? ":ro" : ""}`).join(",") || "-",
          Object.entries(s.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(",") || "-",
        ]);
        process.stdout.write(`${formatTable(["ID", "STATE", "CREATED", "EXPIRES", "MEMORY", "VOLUMES", "LABELS"], rows)}\n`);
      }),
    );

  sandbox
    .command("exec")
    .description("run a command in a sandbox and exit with its exit code: atoll sandbox exec ID -- CMD ARGS...")
    .argument("<id>", "sandbox id")
    .argument("<command...>", "command and arguments (put them after --)")
    .option("--sudo", "run as sandbox root instead of app")
    .option("--cwd <dir>", "working directory (relative to /home/app)")
    .option("--env <KEY=VALUE>", "environment variable (repeatable)", collect)
    .passThroughOptions()
    .action(async (id: string, command: string[], flags: { sudo?: boolean; cwd?: string; env?: string[] }) => {
      const argv = command[0] === "--" ? command.slice(1) : command;
      let code = 1;
      try {
        if (argv.length === 0) throw new InvalidArgumentError("No command given: atoll sandbox exec ID -- CMD ARGS...");
        code = await execInSandbox(program, id, argv, flags);
      } catch (err) {
        printError(err);
        code = 1;
      }
      await flushOutput();
      process.exit(code);
    });

  sandbox
    .command("kill")
    .description("kill sandboxes (a stopped one is left as is): by id, every running one (--all), or those with labels (--label)")
    .argument("[ids...]", "sandbox ids")
    .option("-a, --all", "every running sandbox of this token's tenant")
    .option("--label <key=value>", "every running sandbox with this label (repeatable: all must match)", collect)
    .action(
      clientAction(async (given: string[], flags: { all?: boolean; label?: string[] }) => {
        const client = clientFrom(program);
        const bySelection = flags.all || flags.label;
        if (bySelection && given.length > 0) throw new InvalidArgumentError("give sandbox ids, or --all / --label, not both");
        if (!bySelection && given.length === 0) throw new InvalidArgumentError("give sandbox ids, or --all, or --label key=value");
        const ids = bySelection
          ? (await client.listSandboxes({ state: "running", labels: flags.label ? parsePairs(flags.label, "--label") : undefined })).map((s) => s.id)
          : given;
        // Each kill waits for its sandbox's teardown (unmounts, loop devices, cgroups): several
        // at a time, so the daemon's host work overlaps. Errors are reported per id at the end.
        const failed = await forEachConcurrently(ids, KILL_CONCURRENCY, async (id) => {
          await client.killSandbox(id);
          process.stdout.write(`${id}\n`);
        });
        for (const { item, error } of failed) {
          process.stderr.write(`${item}: `);
          printError(error);
        }
        if (failed.length > 0) process.exitCode = 1;
      }),
    );
}

async function execInSandbox(program: Command, id: string, argv: string[], flags: { sudo?: boolean; cwd?: string; env?: string[] }): Promise<number> {
  const target = await clientFrom(program).connectSandbox(id);
  let child: ChildProcess | undefined;
  // Ctrl-C and friends go to the remote process (its whole process group), as with a local one.
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, () => child?.kill(s)] as const);
  try {
    const pipeStdin = !process.stdin.isTTY;
    child = await target.spawn(argv[0]!, {
      args: argv.slice(1),
      cwd: flags.cwd,
      env: flags.env ? parsePairs(flags.env, "--env") : undefined,
      user: flags.sudo ? "root" : "app",
      stdin: pipeStdin ? "piped" : "null",
      stdout: "inherit",
      stderr: "inherit",
    });
    for (const [s, h] of handlers) process.on(s, h);
    if (pipeStdin) void pipeOwnStdin(child);
    return exitCodeOf(await child.status);
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    process.stdin.destroy();
    await target.close();
  }
}
