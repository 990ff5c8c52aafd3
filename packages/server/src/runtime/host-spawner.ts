/**
 * The daemon's host spawner: one `atoll-init --host-spawner` process, started at daemon start,
 * that forks and execs the short host commands (mount, losetup, mkfs, ip, nft) on request over
 * the same framed protocol sandboxes use (docs/architecture.md). Forking from the daemon itself
 * copies the page tables of a large Node.js process and blocks its event loop for milliseconds
 * per command; forking from this small static process does not.
 *
 * @example
 *   const spawner = await HostSpawner.start(nativeDir);
 *   new BwrapRuntime({ ...options, runner: spawner }); // its drivers run host commands through it
 *   await spawner.close();
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { type CommandResult, type CommandRunner, HOST_PATH, HostCommandError, execFileCommand } from "../host/run-command.js";
import { AgentChannel } from "./agent-channel.js";

const MAX_OUTPUT = 64 * 1024 * 1024;

export class HostSpawner implements CommandRunner {
  private constructor(
    private readonly channel: AgentChannel,
    private readonly child: ReturnType<typeof spawn>,
  ) {}

  /** Starts the spawner and waits until it is ready. */
  static async start(nativeDir: string): Promise<HostSpawner> {
    const child = spawn(path.join(nativeDir, "atoll-init"), ["--host-spawner"], { stdio: ["pipe", "pipe", "inherit"] });
    child.on("error", () => undefined); // surfaces as a closed channel
    const channel = new AgentChannel(child.stdin!, child.stdout!);
    await channel.ready;
    return new HostSpawner(channel, child);
  }

  /** Runs `file args…` as root with stdin `input`; like execFile, rejects with HostCommandError on failure. */
  run(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    // A spawner that died (it never should) must not take host commands down with it.
    if (!this.channel.isOpen) return execFileCommand(file, args, options);
    const argv = [file, ...args];
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let timer: NodeJS.Timeout | undefined;
      // Output is collected (up to MAX_OUTPUT) as it arrives, so it is acknowledged at once.
      const keep = (into: Buffer[], stream: "stdout" | "stderr", data: Uint8Array) => {
        size += data.byteLength;
        if (size <= MAX_OUTPUT) into.push(Buffer.from(data));
        handle.ack(stream, data.byteLength);
      };
      const handle = this.channel.spawn(
        { argv, env: { PATH: HOST_PATH, LC_ALL: "C" }, cwd: "/", user: "root", stdin: options.input !== undefined },
        {
          onStarted: () => undefined,
          onStdout: (d) => keep(out, "stdout", d),
          onStderr: (d) => keep(err, "stderr", d),
          onSpawnError: (message) => {
            clearTimeout(timer);
            reject(new HostCommandError(argv, null, message));
          },
          onExit: (exit) => {
            clearTimeout(timer);
            const stdout = Buffer.concat(out).toString("utf8");
            const stderr = Buffer.concat(err).toString("utf8");
            if (exit.code === 0) resolve({ stdout, stderr });
            else reject(new HostCommandError(argv, exit.code, stderr || (exit.signal ? `killed by ${exit.signal}` : "")));
          },
        },
      );
      if (options.input !== undefined) {
        handle.write(Buffer.from(options.input));
        handle.closeStdin();
      }
      timer = setTimeout(() => handle.signal("SIGKILL"), options.timeoutMs ?? 120_000);
    });
  }

  /** Stops the spawner (it kills whatever it still runs) and waits for it to exit. */
  async close(): Promise<void> {
    this.channel.end();
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((r) => this.child.once("exit", r));
  }
}
