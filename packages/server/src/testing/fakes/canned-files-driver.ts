/**
 * A FilesDriver for the fast test tier, promoted from core/file-service.test.ts: its file helper
 * answers every run in process with one record of the helper's protocol (files/fs-records.ts),
 * an R(esult) or an X errno report, then exits (status 1 after an error, as atoll-fs does), and
 * records where each run went. The real helper and the bubblewrap files driver are covered by
 * e2e/files-*.itest.ts.
 *
 * @example
 *   const fake = cannedFilesDriver({ result: { size: 3, type: "file" } });
 *   new FileService({ …, driver: fake.driver }); … assert.deepEqual(fake.runs, [...]);
 */
import type { FilesDriver, ProcessHandle, ProcessSink } from "../../core/drivers.js";
import { Rec, encodeRecord } from "../../files/fs-records.js";

export interface CannedRun {
  /** "sandbox <id> as <user>" or "volume at <source>". */
  where: string;
  argv: readonly string[];
}

/** What the helper answers: `result` as its R record, or an X record with `errno` (a number). */
export interface CannedAnswer {
  result?: object;
  errno?: number;
}

export function cannedFilesDriver(answer: CannedAnswer = {}): { driver: FilesDriver; runs: CannedRun[]; closed: () => number } {
  const runs: CannedRun[] = [];
  let closed = 0;
  const run = (where: string, argv: readonly string[], sink: ProcessSink): ProcessHandle => {
    runs.push({ where, argv });
    setImmediate(() => {
      const rec = answer.errno
        ? encodeRecord(Rec.ERROR, Buffer.from(JSON.stringify({ errno: answer.errno, syscall: "openat", path: argv[1] })))
        : encodeRecord(Rec.RESULT, Buffer.from(JSON.stringify(answer.result ?? {})));
      sink.onStdout(rec);
      sink.onExit({ code: answer.errno ? 1 : 0, signal: null, oom: false });
    });
    return { write: () => undefined, closeStdin: () => undefined, signal: () => undefined, ack: () => undefined };
  };
  const driver: FilesDriver = {
    runInSandbox: (sandbox, user, argv, _stdin, sink) => run(`sandbox ${sandbox.id} as ${user}`, argv, sink),
    runOnVolume: (source, argv, _stdin, sink) => run(`volume at ${source}`, argv, sink),
    close: () => void closed++,
  };
  return { driver, runs, closed: () => closed };
}
