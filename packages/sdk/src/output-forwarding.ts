/**
 * Writes a sandbox process's output to the calling program's own stdout/stderr ("inherit").
 * Node and Bun: `process.stdout.write`; Deno without the Node compat globals: `Deno.stdout.writeSync`.
 */

type Target = "stdout" | "stderr";

interface NodeLikeStream {
  write(chunk: Uint8Array): unknown;
}
interface DenoLikeStream {
  writeSync(chunk: Uint8Array): number;
}

/**
 * Writes `data` to the calling process's stdout or stderr. Silently drops output when the
 * runtime has neither (e.g. a browser).
 *
 * @example forwardOutput("stdout", new TextEncoder().encode("hi\n"));
 */
export function forwardOutput(target: Target, data: Uint8Array): void {
  if (data.byteLength === 0) return;
  const node = (globalThis as { process?: Partial<Record<Target, NodeLikeStream>> }).process?.[target];
  if (node && typeof node.write === "function") {
    node.write(data);
    return;
  }
  const deno = (globalThis as { Deno?: Partial<Record<Target, DenoLikeStream>> }).Deno?.[target];
  if (deno && typeof deno.writeSync === "function") {
    let rest = data;
    while (rest.byteLength > 0) rest = rest.subarray(deno.writeSync(rest));
  }
}
