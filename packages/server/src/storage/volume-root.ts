/**
 * The root of a freshly mounted volume as its users need it. mkfs.ext4 (and e2fsck, when it
 * recreates it) makes `lost+found` owned by host root, mode 0700: inside a sandbox that is an
 * unmapped owner, so neither `app` nor sandbox root can read it, and `du -s`, `find`, `cp -r`
 * or a tar of the volume's root fail with "Permission denied". Giving it to the volume's owner
 * (the same user as the volume's root directory) fixes that and gives nothing away: whoever can
 * mount the volume already owns everything else on it, and lost+found only ever holds files of
 * this volume that e2fsck reconnected.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import path from "node:path";

/**
 * Makes `<mountPoint>/lost+found` belong to `owner` (uid and gid) when it is a directory that
 * belongs to someone else. The mount's contents were written by sandboxes: the name is opened
 * with O_NOFOLLOW | O_DIRECTORY and changed through that descriptor, so a symlink or a file in
 * its place is left alone, and nothing outside the volume is ever touched. A missing lost+found
 * is fine (e2fsck makes one when it needs it).
 *
 * @example await adoptLostAndFound("/var/lib/atoll/run/volumes/vol_1", 101000);
 */
export async function adoptLostAndFound(mountPoint: string, owner: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path.join(mountPoint, "lost+found"), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return;
    throw err;
  }
  try {
    const st = await handle.stat();
    if (st.uid !== owner || st.gid !== owner) await handle.chown(owner, owner);
  } finally {
    await handle.close();
  }
}
