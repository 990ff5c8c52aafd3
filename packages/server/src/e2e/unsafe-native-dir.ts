/**
 * A native-helper directory with the non-dumpable defence switched off (atoll-init and atoll-fs
 * built with ATOLL_UNSAFE_DUMPABLE_FOR_TESTS; the other helpers are the real ones), for a test
 * daemon (ATOLL_NATIVE_DIR) on which sandbox code can reach the control channel as it could
 * before the fix: it proves the probes work, and that the daemon contains hostile bytes anyway.
 * Never used outside tests.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NATIVE = fileURLToPath(new URL("../../native", import.meta.url));

/** Builds the directory; returns it and a function that removes it. */
export function unsafeNativeDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync("/var/tmp/atoll-unsafe-native-");
  chmodSync(dir, 0o755); // bwrap runs as sandbox root: it must reach atoll-init
  const sources = readdirSync(NATIVE);
  const build = (name: string, prefixes: string[]) => {
    const files = sources.filter((f) => f.endsWith(".c") && prefixes.some((p) => f.startsWith(p))).map((f) => join(NATIVE, f));
    execFileSync("gcc", ["-O2", "-std=gnu11", "-D_GNU_SOURCE", "-DATOLL_UNSAFE_DUMPABLE_FOR_TESTS", "-static", "-o", join(dir, name), ...files]);
  };
  build("atoll-init", ["atoll-init.c", "init-"]);
  build("atoll-fs", ["atoll-fs.c", "fs-"]);
  for (const helper of ["atoll-launch", "atoll-mount", "atoll-nsconnect", "atoll-idshift", "atoll-probe"]) symlinkSync(join(NATIVE, "build", helper), join(dir, helper));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
