/**
 * `atoll cp SRC DST`: copies files and directory trees between the local disk, sandboxes
 * (`SANDBOX:path`) and volumes (`volume:NAME:path`) in any direction, sandbox to sandbox
 * included, streamed (docs/files.md). Like `cp -r`: a destination that is an existing
 * directory (or ends in '/') receives the source under its own name.
 */
import { cp as localCopy, stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { type Client, type FileSystem, InvalidArgumentError, NotFoundError, SandboxFs, type TransferProgress, type TransferSummary, formatBytes } from "atoll";
import type { Command } from "commander";
import { clientAction, clientFrom } from "./client-action.js";
import { type CpLocation, intoDirectory, parseLocation } from "./cp-location.js";

async function fsOf(client: Client, loc: CpLocation, root: boolean): Promise<FileSystem> {
  if (loc.kind === "sandbox") {
    const fs = new SandboxFs(client.http, loc.id);
    return root ? fs.asRoot() : fs;
  }
  if (loc.kind === "volume") return (await client.getVolume(loc.name)).fs;
  throw new InvalidArgumentError("not a remote location");
}

async function isDirectory(fs: FileSystem | null, path: string): Promise<boolean> {
  try {
    return fs ? (await fs.stat(path)).isDirectory : (await stat(path)).isDirectory();
  } catch (err) {
    if (err instanceof NotFoundError || (err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function progressPrinter(enabled: boolean): ((p: TransferProgress) => void) | undefined {
  if (!enabled) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200 && p.bytes !== p.totalBytes) return;
    last = now;
    const total = p.totalBytes === null ? "" : ` / ${formatBytes(p.totalBytes)}`;
    const files = p.totalFiles === null ? `${p.files}` : `${p.files}/${p.totalFiles}`;
    process.stderr.write(`\r${formatBytes(p.bytes)}${total}, ${files} files  ${p.path.slice(-60)}\x1b[K`);
  };
}

/** Copies; returns what moved. */
export async function copy(client: Client, srcArg: string, dstArg: string, opts: { progress?: boolean; root?: boolean } = {}): Promise<TransferSummary> {
  const src = parseLocation(srcArg);
  const dst = parseLocation(dstArg);
  const onProgress = progressPrinter(opts.progress ?? false);
  const root = opts.root ?? false;
  const srcFs = src.kind === "sandbox" || src.kind === "volume" ? await fsOf(client, src, root) : null;
  const dstFs = dst.kind === "sandbox" || dst.kind === "volume" ? await fsOf(client, dst, root) : null;

  if (src.kind === "stdio") {
    if (!dstFs || dst.kind === "stdio" || dst.kind === "local") throw new InvalidArgumentError("`-` as source copies stdin to a sandbox or volume file");
    await dstFs.writeFile(dst.path, Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>);
    return { files: 1, directories: 0, bytes: (await dstFs.stat(dst.path)).size };
  }
  if (dst.kind === "stdio") {
    if (!srcFs || src.kind === "local") throw new InvalidArgumentError("`-` as destination copies a sandbox or volume file to stdout");
    const stream = await srcFs.readFileStream(src.path);
    await pipeline(Readable.fromWeb(stream as import("node:stream/web").ReadableStream<Uint8Array>), process.stdout);
    return { files: 1, directories: 0, bytes: 0 };
  }
  const srcPath = src.path;
  let dstPath = dst.path;
  if (dstPath.endsWith("/") || (await isDirectory(dstFs, dstPath))) dstPath = intoDirectory(dstPath, srcPath);
  const options = onProgress ? { onProgress } : {};

  if (!srcFs && !dstFs) {
    await localCopy(srcPath, dstPath, { recursive: true, errorOnExist: false, force: true });
    return { files: 0, directories: 0, bytes: 0 };
  }
  if (!srcFs) return dstFs!.upload(srcPath, dstPath, options);
  if (!dstFs) return srcFs.download(srcPath, dstPath, options);
  // Remote to remote: streamed through this process, never to the local disk.
  const info = await srcFs.stat(srcPath);
  if (info.isDirectory) {
    const r = await dstFs.importTar(dstPath, await srcFs.exportTar(srcPath));
    return { files: r.files + r.links, directories: r.dirs, bytes: r.bytes };
  }
  await dstFs.writeFile(dstPath, await srcFs.readFileStream(srcPath), { mode: info.mode & 0o777 });
  return { files: 1, directories: 0, bytes: info.size };
}

/**
 * Adds `atoll cp` to the root program.
 *
 * @example registerCpCommand(program); // atoll cp ./site sbx_123:/srv/site
 */
export function registerCpCommand(program: Command): void {
  program
    .command("cp")
    .description("copy files or directories between the local disk, sandboxes (SANDBOX:path) and volumes (volume:NAME:path)")
    .argument("<src>", "local path, SANDBOX:path, volume:NAME:path, or - (stdin)")
    .argument("<dst>", "local path, SANDBOX:path, volume:NAME:path, or - (stdout)")
    .option("--progress", "print progress on stderr")
    .option("--root", "act as root inside the sandbox (default: user app)")
    .addHelpText(
      "after",
      "\nRelative sandbox paths start at /home/app, volume paths at the volume's root.\n" +
        "A destination that is an existing directory (or ends in /) receives the source under its name.\n" +
        "Examples:\n  atoll cp ./project sbx_123:project\n  atoll cp sbx_123:/var/log/app.log .\n" +
        "  atoll cp volume:cache:/models sbx_456:/models\n  atoll cp sbx_123:out sbx_456:in\n  echo hi | atoll cp - sbx_123:hello.txt",
    )
    .action(
      clientAction(async (src: string, dst: string, flags: { progress?: boolean; root?: boolean }) => {
        const summary = await copy(clientFrom(program), src, dst, flags);
        if (flags.progress) process.stderr.write("\n");
        if (parseLocation(dst).kind !== "stdio" && (summary.files || summary.bytes)) {
          process.stderr.write(`${summary.files} file${summary.files === 1 ? "" : "s"}, ${formatBytes(summary.bytes)}\n`);
        }
      }),
    );
}
