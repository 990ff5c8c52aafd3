/**
 * An in-memory FilesDriver for the fast test tier: its "atoll-fs" runs in process on an in-memory
 * tree (fake-fs-tree.ts) and speaks the helper's record protocol (files/fs-records.ts) as the
 * real one does: O/D/J/R/X out, D/E/C in, output only within the granted credit, input
 * acknowledged with A records, one R or X then exit (status 1 after an error). It keeps the
 * FilesDriver contract (testing/contracts/files-contract.ts) that the bubblewrap driver keeps.
 *
 * @example
 *   const files = new FakeFiles();
 *   files.addVolume("/vol/a", { capacityBytes: 2 ** 20 });
 *   new FileService({ …, driver: files }); // runOnVolume("/vol/a", …) works on that tree
 */
import { ERRNO } from "atoll/contract";
import type { FilesDriver, ProcessHandle, ProcessSink, RuntimeSandbox } from "../../core/drivers.js";
import { Rec, RecordDecoder, encodeRecord } from "../../files/fs-records.js";
import { type TarEntry, readTar, writeTar } from "../ustar.js";
import { ErrnoError, type FakeFsTree as Tree, FakeFsTree, type FsNode } from "./fake-fs-tree.js";

const OUT_CHUNK = 64 * 1024;

/** One run of the helper: its input as records, its output within the credit. */
class HelperRun {
  private readonly decoder = new RecordDecoder();
  private readonly input: Buffer[] = [];
  private inputEnded = false;
  private stdinClosed = false;
  private received = 0;
  private credit = 0;
  private wake: (() => void) | undefined;
  killed = false;

  constructor(private readonly sink: ProcessSink) {}

  write(data: Uint8Array): void {
    for (const r of this.decoder.push(data)) {
      if (r.type === Rec.CREDIT && r.payload.length === 4) this.credit += r.payload.readUInt32BE(0);
      else if (r.type === Rec.DATA) {
        this.input.push(r.payload);
        this.received += r.payload.length;
        const ack = Buffer.alloc(8);
        ack.writeBigUInt64BE(BigInt(this.received));
        setImmediate(() => this.send(Rec.ACK, ack)); // after write() returned, as from a process
      } else if (r.type === Rec.END) this.inputEnded = true;
    }
    this.poke();
  }

  closeStdin(): void {
    this.stdinClosed = true;
    this.poke();
  }

  send(type: number, payload: Uint8Array = Buffer.alloc(0)): void {
    if (!this.killed) this.sink.onStdout(encodeRecord(type, payload));
  }

  json(type: number, value: object): void {
    this.send(type, Buffer.from(JSON.stringify(value)));
  }

  /** Sends `data` as D records, each within the credit granted so far. */
  async data(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; ) {
      while (this.credit <= 0) await this.waitInput();
      const n = Math.min(this.credit, OUT_CHUNK, data.length - off);
      this.credit -= n;
      this.send(Rec.DATA, data.subarray(off, off + n));
      off += n;
    }
  }

  /** Sends one J entry once some credit is there (an entry may overrun it, as the helper's do). */
  async entry(value: object): Promise<void> {
    while (this.credit <= 0) await this.waitInput();
    const payload = Buffer.from(JSON.stringify(value));
    this.credit -= payload.length;
    this.send(Rec.JSON, payload);
  }

  /** Everything the daemon sends up to E; ECANCELED when stdin closes before it. */
  async readAll(path: string): Promise<Buffer> {
    while (!this.inputEnded) {
      if (this.stdinClosed) throw new ErrnoError(ERRNO.ECANCELED, "read", path);
      await this.waitInput();
    }
    return Buffer.concat(this.input.splice(0));
  }

  private waitInput(): Promise<void> {
    if (this.killed) return new Promise(() => undefined); // a killed helper never goes on
    return new Promise((resolve) => (this.wake = resolve));
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

const kindName = (n: FsNode) => (n.kind === "file" ? "file" : n.kind === "dir" ? "dir" : "symlink");
const parseMode = (s: string | undefined, dflt: number) => (s === undefined || s === "-" ? dflt : Number.parseInt(s, 8));

/** The helper's operations on `tree` (argv as core/file-service.ts builds it). Returns the R payload. */
async function perform(tree: Tree, argv: readonly string[], run: HelperRun): Promise<object> {
  const [op, a = "", b = "", c = ""] = argv;
  switch (op) {
    case "stat":
    case "lstat":
      return tree.info(tree.existing(a, op === "stat", op));
    case "mkdir":
      tree.mkdir(a, parseMode(b, 0o755), c === "1");
      return {};
    case "remove":
      tree.remove(a, b === "1");
      return {};
    case "symlink":
      tree.create(b, tree.symlink(a), "symlink");
      return {};
    case "readlink": {
      const n = tree.existing(a, false, "readlink");
      if (n.kind !== "symlink") throw new ErrnoError(ERRNO.EINVAL, "readlink", a);
      return { target: n.target };
    }
    case "read": {
      const n = tree.existing(a, true, "open");
      if (n.kind === "dir") throw new ErrnoError(ERRNO.EISDIR, "read", a);
      const data = n.kind === "file" ? n.data : Buffer.alloc(0);
      run.json(Rec.OPENED, { size: data.length, regular: true });
      await run.data(data);
      return { bytes: data.length };
    }
    case "write":
      return write(tree, a, parseMode(b, 0o644), c, run);
    case "readdir": {
      const n = tree.existing(a, true, "opendir");
      if (n.kind !== "dir") throw new ErrnoError(ERRNO.ENOTDIR, "opendir", a);
      run.send(Rec.OPENED, Buffer.from("{}"));
      for (const [name, child] of [...n.entries]) await run.entry({ name, type: kindName(child) });
      return {};
    }
    case "tar-out":
      return tarOut(tree, a, run);
    case "tar-in":
      return tarIn(tree, a, run);
    default:
      throw new ErrnoError(ERRNO.EINVAL, "argv", op ?? ""); // unknown operation
  }
}

async function write(tree: Tree, path: string, mode: number, flags: string, run: HelperRun): Promise<object> {
  const append = flags.includes("a");
  const create = flags.includes("c");
  const createNew = flags.includes("n");
  const at = tree.lookup(path, true, "open");
  if (at.node && createNew) throw new ErrnoError(ERRNO.EEXIST, "open", path);
  if (!at.node && !create && !createNew) throw new ErrnoError(ERRNO.ENOENT, "open", path);
  if (at.node?.kind === "dir" || at.name === ".") throw new ErrnoError(ERRNO.EISDIR, "open", path);
  tree.writable("open", path);
  run.send(Rec.OPENED, Buffer.from("{}"));
  const data = await run.readAll(path);
  // Replacing writes a new file beside the old one (both count until the rename); appending grows it.
  tree.reserve(data.length, "write", path);
  const old = at.node?.kind === "file" ? at.node : undefined;
  const next = append && old ? Buffer.concat([old.data, data]) : data;
  at.parent.entries.set(at.name, tree.file(old && mode < 0 ? old.mode : mode, next));
  return { bytes: data.length };
}

async function tarOut(tree: Tree, path: string, run: HelperRun): Promise<object> {
  const root = tree.existing(path, true, "stat");
  const entries: TarEntry[] = [];
  const add = (name: string, n: FsNode) => {
    const body = n.kind === "file" ? n.data : Buffer.alloc(0);
    const type = n.kind === "file" ? "0" : n.kind === "dir" ? "5" : "2";
    entries.push({ name, type, mode: n.mode, body, link: n.kind === "symlink" ? n.target : "" });
    if (n.kind === "dir") for (const [child, c] of n.entries) add(`${name}${child}${c.kind === "dir" ? "/" : ""}`, c);
  };
  if (root.kind === "dir") add("./", root);
  else if (root.kind === "file") add(path.split("/").filter(Boolean).at(-1) ?? path, root);
  else throw new ErrnoError(ERRNO.EINVAL, "tar", path);
  run.json(Rec.OPENED, { type: root.kind });
  await run.data(writeTar(entries));
  return { entries: entries.length, bytes: entries.reduce((sum, e) => sum + e.body.length, 0) };
}

async function tarIn(tree: Tree, dir: string, run: HelperRun): Promise<object> {
  tree.writable("open", dir);
  tree.mkdir(dir, 0o755, true);
  run.send(Rec.OPENED, Buffer.from("{}"));
  let entries: TarEntry[];
  try {
    entries = readTar(await run.readAll(dir));
  } catch (err) {
    if (err instanceof ErrnoError) throw err;
    throw new ErrnoError(ERRNO.EPROTO, "read", dir);
  }
  const count = { files: 0, dirs: 0, links: 0, bytes: 0 };
  for (const e of entries) {
    const names = e.name.split("/").filter((c) => c !== "" && c !== ".");
    if (names.includes("..")) throw new ErrnoError(ERRNO.EINVAL, "tar", e.name);
    const rel = names.join("/");
    const target = `${dir.replace(/\/$/, "")}/${rel}`;
    if (e.type === "5") {
      if (rel) tree.mkdir(target, e.mode, true);
      if (rel) count.dirs++;
      continue;
    }
    if (!rel) throw new ErrnoError(ERRNO.EISDIR, "open", dir);
    const at = tree.lookup(target, false, "open");
    if (at.node?.kind === "dir") throw new ErrnoError(ERRNO.EISDIR, "open", target);
    if (e.type === "2") {
      at.parent.entries.set(at.name, tree.symlink(e.link));
      count.links++;
    } else if (e.type === "0") {
      tree.reserve(e.body.length, "write", target);
      at.parent.entries.set(at.name, tree.file(e.mode, e.body));
      count.files++;
      count.bytes += e.body.length;
    }
  }
  return count;
}

export interface FakeVolumeSpec {
  readOnly?: boolean;
  capacityBytes?: number;
}

export class FakeFiles implements FilesDriver {
  private readonly trees = new Map<string, FakeFsTree>();
  private readonly running = new Set<HelperRun>();

  /** Makes the empty volume that runOnVolume(source) works on. */
  addVolume(source: string, spec: FakeVolumeSpec = {}): void {
    this.trees.set(source, new FakeFsTree(spec.readOnly, spec.capacityBytes));
  }

  runInSandbox(sandbox: RuntimeSandbox, user: "app" | "root", argv: readonly string[], _stdin: boolean, sink: ProcessSink): ProcessHandle {
    const key = `sandbox:${sandbox.id}`;
    if (!this.trees.has(key)) this.trees.set(key, new FakeFsTree(false, undefined, user === "root" ? 0 : 1000));
    return this.start(this.trees.get(key), argv, sink);
  }

  runOnVolume(source: string, argv: readonly string[], _stdin: boolean, sink: ProcessSink): ProcessHandle {
    return this.start(this.trees.get(source), argv, sink);
  }

  close(): void {
    for (const run of this.running) run.killed = true;
  }

  private start(tree: FakeFsTree | undefined, argv: readonly string[], sink: ProcessSink): ProcessHandle {
    const run = new HelperRun(sink);
    this.running.add(run);
    setImmediate(async () => {
      sink.onStarted(0);
      let code = 0;
      try {
        if (!tree) throw new ErrnoError(ERRNO.ENOENT, "fchdir", "");
        run.json(Rec.RESULT, await perform(tree, argv, run));
      } catch (err) {
        if (!(err instanceof ErrnoError)) throw err;
        run.json(Rec.ERROR, { errno: err.errno, syscall: err.syscall, path: err.path });
        code = 1;
      }
      this.exit(run, sink, { code, signal: null });
    });
    return {
      write: (data) => run.write(data),
      closeStdin: () => run.closeStdin(),
      signal: (sig) => {
        if (sig !== "SIGKILL" || run.killed) return;
        run.killed = true;
        this.exit(run, sink, { code: null, signal: "SIGKILL" });
      },
      ack: () => undefined,
    };
  }

  private exit(run: HelperRun, sink: ProcessSink, exit: { code: number | null; signal: string | null }): void {
    if (!this.running.delete(run)) return;
    sink.onExit({ ...exit, oom: false });
  }
}
