/**
 * The helpers that run inside sandboxes (atoll-init as pid 1, atoll-fs) must be execute-only
 * for sandbox users: the kernel marks a process whose executable its user cannot read as
 * non-dumpable from the exec on, so no process of the sandbox can open its /proc/PID/mem or
 * /proc/PID/fd, pidfd_getfd its pipes or ptrace it, not even in the instants before the helper
 * calls prctl(PR_SET_DUMPABLE, 0) itself. The Makefile installs them 0711; this re-checks at
 * start and fixes a copy installed with a wider mode.
 *
 * @example await ensureExecuteOnly(["/opt/atoll/native/build/atoll-init"], logger);
 */
import { chmod, stat } from "node:fs/promises";
import type { Logger } from "pino";

/** Removes read (and write) permission for group and others from each file. */
export async function ensureExecuteOnly(files: readonly string[], logger?: Logger): Promise<void> {
  for (const file of files) {
    const st = await stat(file);
    if ((st.mode & 0o066) === 0) continue;
    const mode = st.mode & 0o7711;
    try {
      await chmod(file, mode);
      logger?.info({ file, mode: mode.toString(8) }, "made a sandbox helper execute-only");
    } catch (err) {
      // It still makes itself non-dumpable at its first instruction; only that instant is open.
      logger?.warn({ err, file }, `cannot make ${file} execute-only (chmod 0711 it): sandbox code could briefly reach its file descriptors`);
    }
  }
}
