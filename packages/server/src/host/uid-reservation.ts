/**
 * Atoll's entry in /etc/subuid and /etc/subgid (`atoll:BASE:131072`), as Podman ("containers")
 * and LXD do: useradd allocates new users' subordinate ids around it, so the host never hands
 * the sandbox range to anyone. The owner "atoll" is not a user (uid-range.ts refuses to start
 * if one appears), so no one can map the range with newuidmap.
 */
import { join } from "node:path";
import { updateSubidFile } from "./subid-files.js";
import { RESERVED_ID_COUNT, RESERVATION_OWNER, reservationEntry } from "./uid-range.js";

/**
 * Adds the reservation of `base` to `<etcDir>/subuid` and `<etcDir>/subgid` (creating them if
 * missing) and removes Atoll's reservations of the bases in `release`. Returns the files it
 * changed.
 */
export function reserveUidRange(etcDir: string, base: number, release: readonly number[] = []): string[] {
  const old = release.filter((b) => b !== base).map((start) => ({ owner: RESERVATION_OWNER, start, count: RESERVED_ID_COUNT }));
  const changed: string[] = [];
  for (const name of ["subuid", "subgid"]) {
    const file = join(etcDir, name);
    if (updateSubidFile(file, reservationEntry(base), old)) changed.push(file);
  }
  return changed;
}
