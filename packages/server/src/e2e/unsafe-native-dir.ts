/**
 * A native-helper directory with the non-dumpable defence switched off (atoll-init and atoll-fs
 * built with ATOLL_UNSAFE_DUMPABLE_FOR_TESTS; the other helpers are the real ones), for a test
 * daemon (ATOLL_NATIVE_DIR) on which sandbox code can reach the control channel as it could
 * before the fix: it proves the probes work, and that the daemon contains hostile bytes anyway.
 * Never used outside tests.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NATIVE = fileURLToPath(new URL("../../native", import.meta.url));

/** Builds the directory; returns it and a function that removes it. */
export function unsafeNativeDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync("/var/tmp/atoll-unsafe-native-");
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    chmodSync(dir, 0o755); // bwrap runs as sandbox root: it must reach atoll-init
    // The Makefile's own rules and source lists, into `dir`; CFLAGS from the environment is
    // extended by the Makefile's warnings and -std/-D flags.
    execFileSync("make", ["-s", "-C", NATIVE, `BUILD=${dir}`, join(dir, "atoll-init"), join(dir, "atoll-fs")], {
      env: { ...process.env, CFLAGS: "-O2 -DATOLL_UNSAFE_DUMPABLE_FOR_TESTS" },
    });
    for (const helper of ["atoll-launch", "atoll-mount", "atoll-nsconnect", "atoll-idshift", "atoll-probe", "atoll-shim"])
      symlinkSync(join(NATIVE, "build", helper), join(dir, helper));
  } catch (err) {
    remove(); // a failed build leaves no directory behind
    throw err;
  }
  return { dir, remove };
}
