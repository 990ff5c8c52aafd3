/**
 * Who may reach what under the state directory (docs/operations.md, "Host users"): only root,
 * with one exception. bwrap runs as sandbox root (host uid and gid `uidBase`) and opens the
 * sandbox's root by path (`<state>/run/sandboxes/<id>/root`; bwrap resolves bind sources by
 * path, so an fd cannot stand in), so the directories on that path are group-owned by `uidBase`
 * with mode 0710: that one gid may pass through them, no one may list them, everyone else is
 * kept out. Nothing else on the host holds gid `uidBase` (uid-range.ts refuses to start when a
 * subordinate id range covers it). Everything else is 0700/0600, root's.
 */
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

/** Mode of the directories bwrap passes through on its way to a sandbox root. */
export const SANDBOX_PATH_DIR_MODE = 0o710;

/** Files that only root may read (the store and its WAL hold every tenant's metadata and command log). */
const PRIVATE_FILES = [
  "atoll.db",
  "atoll.db-wal",
  "atoll.db-shm",
  "atoll.db-journal",
  "token",
  "uid-base",
  "ip_forward.before",
  "cow-pool.xfs",
  "cow-pool.json",
];
/** Directories that only root may enter (volume images and mounts, scratch images, the warm pool). */
const PRIVATE_DIRS = ["volumes", "scratch", "run/volumes", "run/pool"];

/** Makes `dir` (created if missing) a directory only root and gid `gid` may pass through. */
export function makeSandboxPathDir(dir: string, gid: number): void {
  mkdirSync(dir, { recursive: true, mode: SANDBOX_PATH_DIR_MODE });
  chownSync(dir, 0, gid);
  chmodSync(dir, SANDBOX_PATH_DIR_MODE);
}

/**
 * Sets the modes above on a state directory, new or made by an earlier version (whose state
 * directory was 0711 and its store 0644): `<state>` and `<state>/run` 0710 root:uidBase, the
 * private directories 0700 (created if missing, so they never appear with a looser mode), the
 * private files 0600, and `imagesDir` 0700 when given.
 */
export function secureStateDir(stateDir: string, uidBase: number, imagesDir?: string): void {
  makeSandboxPathDir(stateDir, uidBase);
  makeSandboxPathDir(join(stateDir, "run"), uidBase);
  for (const rel of PRIVATE_DIRS) {
    const dir = join(stateDir, rel);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  for (const rel of PRIVATE_FILES) {
    const file = join(stateDir, rel);
    if (existsSync(file)) chmodSync(file, 0o600);
  }
  if (imagesDir && existsSync(imagesDir)) chmodSync(imagesDir, 0o700);
}

/**
 * Creates `file` with mode 0600 if it does not exist. SQLite gives its -wal and -shm files the
 * mode of the database file, so creating the store this way keeps all three root's only.
 */
export function createPrivateFile(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  chmodSync(file, 0o600);
}
