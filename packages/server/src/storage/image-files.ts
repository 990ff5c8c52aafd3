/** Small file helpers of the volume backend: existence, durable writes, image names. */
import { open, stat } from "node:fs/promises";
import path from "node:path";

/** Volume images are `<id>.img`. */
export const IMAGE_SUFFIX = ".img";

/** true when `p` exists (any other error than ENOENT is thrown). */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** fsyncs a file and then its directory, so a crash cannot lose what mkfs wrote. */
export async function syncFileAndDir(file: string): Promise<void> {
  for (const p of [file, path.dirname(file)]) {
    const handle = await open(p, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
