/**
 * The image config's `User` (`name`, `uid`, `name:group`, `uid:gid`) as numeric ids, looked up
 * in the unpacked tree's own /etc/passwd and /etc/group the way runc does: a numeric uid need
 * not exist (its group is then 0), a name must. The tree is the untrusted image's: the files
 * are reached without following symlinks (an image's `/etc/passwd -> /etc/shadow` of the host
 * is never read) and read with a size bound.
 */
import { open } from "node:fs/promises";
import { constants } from "node:fs";
import { MAX_IMAGE_ID } from "./oci-layers.js";
import { badImage, lstatOrNull, SafeTree } from "./oci-paths.js";

/** Largest /etc/passwd or /etc/group read. */
const MAX_DB_BYTES = 4 * 1024 * 1024;

/** Who a sandbox booted from the image runs as. */
export interface ImageUser {
  uid: number;
  gid: number;
  /** Home directory from /etc/passwd, or null when the user has no entry there. */
  home: string | null;
}

/** Lines of `/etc/<name>` in the tree split at ":", or [] when it is missing. */
async function readDb(root: string, name: "passwd" | "group"): Promise<string[][]> {
  const etc = await new SafeTree(root).directory(["etc"], `/etc/${name}`, false);
  if (etc === null) return [];
  const path = `${etc}/${name}`;
  const st = await lstatOrNull(path);
  if (st === null) return [];
  if (!st.isFile()) throw badImage(`the image's /etc/${name} is not a regular file`);
  if (st.size > MAX_DB_BYTES) throw badImage(`the image's /etc/${name} is larger than ${MAX_DB_BYTES} bytes`);
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const text = (await fh.readFile()).subarray(0, MAX_DB_BYTES).toString("utf8");
    return text.split("\n").map((line) => line.split(":"));
  } finally {
    await fh.close();
  }
}

function numeric(s: string): number | null {
  if (!/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  if (n > MAX_IMAGE_ID) throw badImage(`the image's User names id ${n}; sandboxes map ids 0..${MAX_IMAGE_ID} only`);
  return n;
}

function idField(fields: string[], index: number, what: string): number {
  const id = numeric(fields[index] ?? "");
  if (id === null) throw badImage(`the image's ${what} entry for ${JSON.stringify(fields[0])} has no numeric id`);
  return id;
}

/**
 * Resolves `user` (`OciImageConfig.user`; null is root) against the tree at `root`.
 *
 * @example
 *   const { uid, gid, home } = await resolveImageUser(rootfs, config.user); // "app" → 1000, 1000, "/home/app"
 */
export async function resolveImageUser(root: string, user: string | null): Promise<ImageUser> {
  const [name = "", group] = (user || "0").split(":", 2);
  const passwd = await readDb(root, "passwd");
  const uidNumber = numeric(name);
  const entry = passwd.find((f) => f.length >= 4 && (uidNumber === null ? f[0] === name : f[2] === String(uidNumber)));
  if (entry === undefined && uidNumber === null) throw badImage(`the image's User ${JSON.stringify(name)} is not in its /etc/passwd`);
  const uid = uidNumber ?? idField(entry as string[], 2, "/etc/passwd");
  let gid = entry === undefined ? 0 : idField(entry, 3, "/etc/passwd");
  if (group !== undefined) {
    const gidNumber = numeric(group);
    if (gidNumber !== null) gid = gidNumber;
    else {
      const g = (await readDb(root, "group")).find((f) => f.length >= 3 && f[0] === group);
      if (g === undefined) throw badImage(`the image's group ${JSON.stringify(group)} is not in its /etc/group`);
      gid = idField(g, 2, "/etc/group");
    }
  }
  return { uid, gid, home: entry?.[5] || null };
}
