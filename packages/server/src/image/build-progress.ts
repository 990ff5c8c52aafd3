import cliProgress from "cli-progress";
import type { BuildProgress } from "./bootstrap-runner.js";

/** Shows BuildProgress to a person: a live bar on a terminal, one plain line per phase otherwise. */
export interface ProgressReporter {
  onProgress(progress: BuildProgress): void;
  /** Ends the live bar (if any); call on success and on failure. */
  stop(): void;
}

/**
 * Creates a reporter writing to `stream` (default stderr). A terminal gets a cli-progress bar
 * per phase; CI logs (CI set, or not a TTY) get one line per phase and the package count.
 */
export function createProgressReporter(options: { stream?: NodeJS.WriteStream; interactive?: boolean; prefix?: string } = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && !process.env.CI);
  const prefix = options.prefix ?? "  image:";
  return interactive ? barReporter(stream, prefix) : lineReporter(stream, prefix);
}

function lineReporter(stream: NodeJS.WritableStream, prefix: string): ProgressReporter {
  let phase: string | null = null;
  let totalShown = false;
  return {
    onProgress(p) {
      if (p.phase !== phase) {
        phase = p.phase;
        totalShown = false;
        stream.write(`${prefix} ${p.phase}\n`);
      }
      if (!totalShown && p.total !== undefined && p.current === 0) {
        totalShown = true;
        stream.write(`${prefix} ${p.phase}: ${p.total} packages\n`);
      }
    },
    stop() {},
  };
}

function barReporter(stream: NodeJS.WriteStream, prefix: string): ProgressReporter {
  let bar: cliProgress.SingleBar | null = null;
  let phase: string | null = null;
  let hasTotal = false;
  const format: cliProgress.GenericFormatter = (options, params, payload: { phase: string; detail: string; counted: boolean; hasTotal: boolean }) => {
    if (!payload.counted) return `${prefix} ${payload.phase}`;
    if (!payload.hasTotal) return `${prefix} ${payload.phase} ${params.value} ${payload.detail}`;
    const size = options.barsize ?? 30;
    const filled = Math.round((params.value / Math.max(params.total, 1)) * size);
    const graph = "█".repeat(filled) + "░".repeat(size - filled);
    return `${prefix} ${payload.phase} ${graph} ${params.value}/${params.total} ${payload.detail}`;
  };
  const finish = (): void => {
    bar?.update({ detail: "" });
    bar?.stop();
    bar = null;
  };
  return {
    onProgress(p) {
      if (p.phase !== phase || !bar) {
        finish();
        phase = p.phase;
        hasTotal = false;
        bar = new cliProgress.SingleBar({ stream, format, barsize: 30, hideCursor: true, fps: 10, linewrap: false });
        bar.start(p.total ?? 1, p.current ?? 0, { phase: p.phase, detail: "", counted: false, hasTotal });
      }
      const counted = p.current !== undefined;
      if (p.total !== undefined) {
        hasTotal = true;
        bar.setTotal(Math.max(p.total, 1));
      }
      bar.update(p.current ?? 0, { phase: p.phase, detail: p.detail ?? "", counted, hasTotal });
    },
    stop: finish,
  };
}
