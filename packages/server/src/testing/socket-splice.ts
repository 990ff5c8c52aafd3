/** Joins two sockets both ways; either side closing or failing ends both. */
import type { Socket } from "node:net";

export function spliceSockets(a: Socket, b: Socket): void {
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end).on("close", end);
  b.on("error", end).on("close", end);
  a.pipe(b).pipe(a);
}
