/**
 * The address numbers of a daemon's sandbox networks (each number is a sandbox's IPv4 and IPv6
 * address pair in the daemon's range, docs/network.md). Freed numbers are reused oldest first,
 * and only once more than a few wait, so a number is not handed out again at once (a late packet
 * for the previous holder lands nowhere).
 *
 * @example const numbers = new AddressNumbers(plan); const n = numbers.allocate(); numbers.free(n);
 */
import { InvalidArgumentError } from "atoll/contract";
import type { AddressPlan } from "./address-plan.js";

export class AddressNumbers {
  private readonly used = new Set<number>();
  private readonly freed: number[] = [];
  private next = 1;

  constructor(private readonly plan: Pick<AddressPlan, "capacity" | "range4">) {}

  /** A number no sandbox holds; throws INVALID_ARGUMENT naming the range when it is full. */
  allocate(): number {
    let n: number | undefined;
    do n = this.freed.length > 8 ? this.freed.shift()! : this.next <= this.plan.capacity ? this.next++ : this.freed.shift();
    while (n !== undefined && this.used.has(n)); // adopted sandboxes hold theirs
    if (n === undefined)
      throw new InvalidArgumentError(`This daemon's network range ${this.plan.range4} is full (${this.plan.capacity} sandboxes); use a larger --net-range`);
    this.used.add(n);
    return n;
  }

  /** An adopted sandbox keeps the number the previous run gave it. */
  hold(n: number): void {
    this.used.add(n);
  }

  free(n: number): void {
    if (this.used.delete(n)) this.freed.push(n);
  }
}
