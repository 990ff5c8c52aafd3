/**
 * One run of atoll-fs, seen from the daemon: starts it through an FsSpawner (the FilesDriver: in
 * a sandbox, or in a view of one volume), decodes its records and exposes them as promises and
 * streams with bounded memory at every hop:
 * - output (D bytes, J entries) flows only as far as the helper was granted credit, and credit
 *   is granted as the consumer (the HTTP response) takes data;
 * - input (D bytes of an upload) is sent at most WINDOW bytes ahead of the helper's ACKs.
 *
 * What the helper sends is treated as hostile (it runs inside the sandbox): sizes are bounded,
 * output beyond the granted credit, acknowledgements of bytes never sent, unknown or empty
 * records all fail the call with a protocol error (and kill the helper), JSON is parsed
 * defensively, and nothing the helper does can throw out of here. The helper's output is
 * acknowledged to the runtime as it arrives: what the daemon holds is bounded by the record
 * protocol's own credit (D and J) and one partial record.
 */
import { Readable } from "node:stream";
import { type AtollError, ServerError, fsErrorFromErrno, parseErrnoReport } from "atoll/contract";
import type { ProcessHandle, ProcessSink } from "../core/drivers.js";
import { MAX_DATA_OUT, Rec, RecordDecoder, RecordProtocolError, creditRecord, encodeRecord } from "./fs-records.js";

/** Starts the helper with `argv` (after the program name); stdin is a pipe when `stdin`. */
export type FsSpawner = (argv: string[], stdin: boolean, sink: ProcessSink) => ProcessHandle;

/** Bytes of output or input in flight between the daemon and the helper (what it may hold per call). */
export const WINDOW = 1024 * 1024;
const STDERR_KEEP = 4096;
const KILL_AFTER_MS = 5000;

export type Json = Record<string, unknown>;

export interface FsCallOptions {
  /** The helper reads stdin (uploads, and streaming output ops for their credit). */
  stdin: boolean;
  /** The helper streams D/J output and waits for credit. */
  streams: boolean;
  /** Who acts, for error messages ("app in sbx_…"). */
  who: string;
  /**
   * The output carries its own error report once it started (tar: a pax ATOLL.error header), so
   * an error after O ends `data` normally instead of cutting it off.
   */
  inbandErrors?: boolean;
  /** Runs after the helper exited and before the outcome is delivered (releases a volume). */
  finalize?: () => Promise<void>;
  /** Called when the helper died without a result, to explain why (e.g. the sandbox stopped). */
  explainExit?: (exit: { code: number | null; signal: string | null }, stderr: string) => AtollError | undefined;
}

function parseJson(payload: Buffer): Json | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

export class FsCall {
  /** The O record: the operation started (or the result, for operations without O). */
  readonly opened: Promise<Json>;
  /** The R record, or the typed error of the X record / a dead helper. */
  readonly result: Promise<Json>;
  /** D bytes (file contents or tar). */
  readonly data: Readable;
  /** J entries (listings), as parsed objects. */
  readonly entries: Readable;
  /** Resolves once the helper process is gone (after the result; it may still hold files until then). */
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  private readonly decoder = new RecordDecoder();
  private readonly handle: ProcessHandle;
  private resolveOpened!: (v: Json) => void;
  private rejectOpened!: (e: AtollError) => void;
  private resolveResult!: (v: Json) => void;
  private rejectResult!: (e: AtollError) => void;
  private settled = false;
  private hasExited = false;
  private isOpened = false;
  private error: AtollError | undefined;
  private stderr = "";
  private granted = 0;
  private received = 0;
  private sent = 0;
  private acked = 0;
  private windowWaiters: (() => void)[] = [];
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    spawn: FsSpawner,
    argv: string[],
    private readonly opts: FsCallOptions,
  ) {
    this.opened = new Promise((res, rej) => {
      this.resolveOpened = res;
      this.rejectOpened = rej;
    });
    this.result = new Promise((res, rej) => {
      this.resolveResult = res;
      this.rejectResult = rej;
    });
    this.exited = new Promise((res) => (this.resolveExited = res));
    this.opened.catch(() => undefined);
    this.result.catch(() => undefined);
    const destroy = (err: Error | null, cb: (error?: Error | null) => void) => {
      this.abort();
      cb(err);
    };
    this.data = new Readable({ read: () => this.grant(), destroy });
    this.entries = new Readable({ objectMode: true, highWaterMark: 256, read: () => this.grant(), destroy });
    // Consumers see errors through their own listeners; an unconsumed stream must not crash us.
    this.data.on("error", () => undefined);
    this.entries.on("error", () => undefined);
    this.handle = spawn(argv, opts.stdin, {
      onStarted: () => undefined,
      onStdout: (d) => this.onStdout(d),
      onStderr: (d) => {
        this.stderr = (this.stderr + Buffer.from(d).toString("utf8")).slice(-STDERR_KEEP);
        this.handle.ack("stderr", d.byteLength);
      },
      onExit: (exit) => {
        this.onExit(exit);
        this.hasExited = true;
        this.resolveExited();
      },
      onSpawnError: (message) => {
        // A sandbox stopping under the spawn says so (SANDBOX_NOT_RUNNING with its reason), as an exit would.
        this.fail(this.opts.explainExit?.({ code: null, signal: null }, "") ?? new ServerError("HOST_ERROR", `Cannot run the file helper: ${message}`));
        this.hasExited = true;
        this.resolveExited();
      },
    });
    if (opts.streams) this.grant();
  }

  /**
   * Sends `source` as the helper's input within the window, then END. If the source fails
   * (the client went away), the helper's stdin is closed without END: it removes what it
   * started and reports the interruption. Returns once everything was handed over.
   */
  async sendInput(source: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of source) {
        for (let off = 0; off < chunk.byteLength; off += MAX_DATA_OUT) {
          if (this.settled) return;
          const piece = chunk.subarray(off, off + MAX_DATA_OUT);
          while (this.sent - this.acked > WINDOW && !this.settled) await new Promise<void>((r) => this.windowWaiters.push(r));
          if (this.settled) return;
          this.handle.write(encodeRecord(Rec.DATA, piece));
          this.sent += piece.byteLength;
        }
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    if (!this.settled) {
      this.handle.write(encodeRecord(Rec.END));
      this.handle.closeStdin();
    }
  }

  /** Stops the call: closes stdin (the helper cleans up and exits), SIGKILL if it lingers. */
  abort(): void {
    if (this.hasExited) return;
    this.handle.closeStdin();
    this.killTimer ??= setTimeout(() => {
      if (!this.hasExited) this.handle.signal("SIGKILL");
    }, KILL_AFTER_MS);
    this.killTimer.unref();
  }

  /** true once R or X arrived (or the helper died). */
  get done(): boolean {
    return this.settled;
  }

  private grant(): void {
    if (!this.opts.streams || this.settled) return;
    const outstanding = this.granted - this.received;
    if (outstanding >= WINDOW / 2) return;
    const more = WINDOW - outstanding;
    this.granted += more;
    this.handle.write(creditRecord(more));
  }

  private onStdout(chunk: Uint8Array): void {
    // Acknowledged even after the outcome (and dropped): the helper's pipe must drain for its
    // EXIT to come, also when someone else holds the pipe. The helper is stopped by then.
    this.handle.ack("stdout", chunk.byteLength);
    if (this.settled) return;
    try {
      for (const r of this.decoder.push(chunk)) {
        if (this.settled) return;
        this.onRecord(r.type, r.payload);
      }
    } catch (err) {
      if (!(err instanceof RecordProtocolError)) throw err;
      this.fail(new ServerError("HOST_ERROR", `The file helper broke its protocol: ${err.message}`, undefined, { cause: err }));
      this.handle.signal("SIGKILL");
    }
  }

  /** Handles one record; throws RecordProtocolError for anything the helper may not send. */
  private onRecord(type: number, payload: Buffer): void {
    switch (type) {
      case Rec.DATA:
      case Rec.JSON: {
        // D within the credit; a J entry may overrun it once it is positive (the helper sends
        // whole entries).
        const credit = this.granted - this.received;
        const fits = type === Rec.DATA ? payload.byteLength <= credit : credit > 0;
        if (!this.opts.streams || payload.byteLength === 0 || !fits) {
          throw new RecordProtocolError(`${payload.byteLength}-byte output record with a credit of ${credit}`);
        }
        this.received += payload.byteLength;
        if (type === Rec.DATA) {
          if (this.data.push(payload)) this.grant();
        } else {
          const entry = parseJson(payload);
          if (entry && this.entries.push(entry)) this.grant();
        }
        return;
      }
      case Rec.ACK: {
        const acked = payload.byteLength === 8 ? Number(payload.readBigUInt64BE(0)) : -1;
        if (acked <= this.acked || acked > this.sent)
          throw new RecordProtocolError(`acknowledgement of ${acked} bytes (${this.sent} sent, ${this.acked} acknowledged)`);
        this.acked = acked;
        for (const w of this.windowWaiters.splice(0)) w();
        return;
      }
      case Rec.OPENED:
        if (this.isOpened) throw new RecordProtocolError("second O record");
        this.isOpened = true;
        this.resolveOpened(parseJson(payload) ?? {});
        return;
      case Rec.RESULT: {
        const v = parseJson(payload) ?? {};
        this.settle(() => {
          this.resolveOpened(v);
          this.resolveResult(v);
          this.data.push(null);
          this.entries.push(null);
        });
        return;
      }
      case Rec.ERROR:
        this.fail(fsErrorFromErrno(parseErrnoReport(payload.toString("utf8")), this.opts.who));
        return;
      default:
        throw new RecordProtocolError(`unknown record type ${type}`);
    }
  }

  private onExit(exit: { code: number | null; signal: string | null }): void {
    if (this.settled) return;
    const explained = this.opts.explainExit?.(exit, this.stderr);
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    this.fail(explained ?? new ServerError("HOST_ERROR", `The file helper ${how} without a result${this.stderr.trim() ? `: ${this.stderr.trim()}` : ""}`));
  }

  /**
   * The outcome is known: stop feeding input now, deliver once the helper exited and the
   * target was released, so whoever sees the result may use the target again at once.
   */
  private settle(deliver: () => void): void {
    this.settled = true;
    for (const w of this.windowWaiters.splice(0)) w();
    if (!this.hasExited) this.abortSoon();
    void this.exited
      .then(() => this.opts.finalize?.())
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(this.killTimer);
        deliver();
      });
  }

  /** After R or X the helper exits by itself; one that does not is stopped. */
  private abortSoon(): void {
    this.handle.closeStdin();
    this.killTimer ??= setTimeout(() => {
      if (!this.hasExited) this.handle.signal("SIGKILL");
    }, KILL_AFTER_MS);
    this.killTimer.unref();
  }

  private fail(err: AtollError): void {
    if (this.settled) return;
    this.error = err;
    this.settle(() => {
      this.rejectOpened(err);
      this.rejectResult(err);
      // Streams end with the error: an HTTP response that already started is cut off, unless
      // the data itself already reports it.
      if (this.opts.inbandErrors && this.isOpened) this.data.push(null);
      else this.data.destroy(err);
      this.entries.destroy(err);
    });
  }

  /** The error the call failed with, if it did. */
  get failure(): AtollError | undefined {
    return this.error;
  }
}
