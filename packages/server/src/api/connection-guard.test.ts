import assert from "node:assert/strict";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { test } from "node:test";
import { clientKey, guardConnections } from "./connection-guard.js";

test("clients are counted by IPv4 address, IPv6 /64", () => {
  assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
  assert.equal(clientKey("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(clientKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2::9"), clientKey("2001:0db8:1:2:ffff::1"));
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
  assert.equal(clientKey(undefined), "?");
});

/** Opens a TCP connection; resolves once it is established, with a promise of its end. */
function connect(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve({ socket, closed: new Promise((r) => socket.once("close", () => r())) }));
    socket.on("error", () => undefined);
    socket.once("error", reject);
  });
}

test("a client past its cap is cut before a byte is read; a closed connection frees its place", async () => {
  const server = http.createServer((_req, res) => res.end("ok"));
  const open = guardConnections(server, 2);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    const a = await connect(port);
    const b = await connect(port);
    const c = await connect(port);
    await c.closed; // cut by the server
    assert.equal(open.get("127.0.0.1"), 2);
    a.socket.destroy();
    await a.closed;
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } });
    assert.equal(await res.text(), "ok", "a place was free again");
    b.socket.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
