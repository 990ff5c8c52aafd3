/**
 * Writes a sandbox process's output to the calling program's own stdout/stderr ("inherit").
 * Node and Bun: `process.stdout.write`; Deno without the Node compat globals: `Deno.stdout.writeSync`.
 */

type Target = "stdout" | "stderr";

interface NodeLikeStream {
  write(chunk: Uint8Array, callback: (err?: Error | null) => void): unknown;
}
interface DenoLikeStream {
  writeSync(chunk: Uint8Array): number;
}

/**
 * Writes `data` to the calling process's stdout or stderr. Silently drops output when the
 * runtime has neither (e.g. a browser). `written` runs once the data left this program (Node's
 * write callback), so a slow terminal or pipe slows the sandbox process instead of growing
 * memory here.
 *
 * @example forwardOutput("stdout", new TextEncoder().encode("hi\n"));
 */
export function forwardOutput(target: Target, data: Uint8Array, written: () => void = () => undefined): void {
  if (data.byteLength === 0) return written();
  const node = (globalThis as { process?: Partial<Record<Target, NodeLikeStream>> }).process?.[target];
  if (node && typeof node.write === "function") {
    // Accepted below the stream's high-water mark: done now. Above it: once it was written
    // (a replaced `write` that drops callbacks but reports no congestion still works).
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      written();
    };
    if (node.write(data, once) !== false) once();
    return;
  }
  const deno = (globalThis as { Deno?: Partial<Record<Target, DenoLikeStream>> }).Deno?.[target];
  if (deno && typeof deno.writeSync === "function") {
    let rest = data;
    while (rest.byteLength > 0) rest = rest.subarray(deno.writeSync(rest));
  }
  written();
}
