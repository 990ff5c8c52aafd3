/**
 * Host uids that own sandboxes' user namespaces (atoll-launch --owner-uid; issue 10, item 5).
 *
 * The kernel charges per-user budgets (inotify instances and watches, POSIX message-queue bytes,
 * fanotify groups, pending signals, locked memory, namespace counts) of everything inside a user
 * namespace to the namespace's owner in the parent namespace. Each running sandbox gets an owner
 * of its own, so its budget is its own: not host root's, not a neighbour's.
 *
 * Layout (agreed with the host uid reservation, /etc/subuid): sandbox ids 0..65535 map to host
 * [uidBase, uidBase+65536); owners come from [uidBase+65536, uidBase+131072). Owners are handed
 * out round robin from a random start, so a released one (whose kernel objects may still be freed
 * asynchronously) is reused as late as possible, and two daemons on one host (tests) rarely meet.
 */
import { randomInt } from "node:crypto";
import { DaemonError } from "../daemon-error.js";

export const OWNER_RANGE_OFFSET = 65536;
export const OWNER_RANGE_SIZE = 65536;

export class OwnerUids {
  private readonly inUse = new Set<number>();
  private next: number;

  constructor(
    private readonly uidBase: number,
    start = randomInt(OWNER_RANGE_SIZE),
  ) {
    this.next = start;
  }

  /** First host uid of the owner range. */
  get first(): number {
    return this.uidBase + OWNER_RANGE_OFFSET;
  }

  /** A free owner uid, now in use until release(). Throws when every one is taken. */
  take(): number {
    for (let i = 0; i < OWNER_RANGE_SIZE; i++) {
      const uid = this.first + ((this.next + i) % OWNER_RANGE_SIZE);
      if (!this.inUse.has(uid)) {
        this.inUse.add(uid);
        this.next = (uid - this.first + 1) % OWNER_RANGE_SIZE;
        return uid;
      }
    }
    throw new DaemonError("SANDBOX_RUNTIME_FAILED", `all ${OWNER_RANGE_SIZE} sandbox owner uids are in use`);
  }

  /** Marks `uid` in use again (a sandbox adopted from a previous daemon run). false if it is not an owner uid or taken. */
  claim(uid: number): boolean {
    if (uid < this.first || uid >= this.first + OWNER_RANGE_SIZE || this.inUse.has(uid)) return false;
    this.inUse.add(uid);
    return true;
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }
}
