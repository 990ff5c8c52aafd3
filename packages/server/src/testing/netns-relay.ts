/**
 * Relay run inside a fake host (fake-host.ts, by nsenter): accepts connections on a Unix socket
 * and connects each to 127.0.0.1:<port> of the fake host, where the daemon listens. The test's
 * side listens on TCP and connects here, so a test reaches the daemon's API without any link
 * between the fake host and the machine. Nagle is off on every TCP hop: a relay must not add the
 * 40 ms of a delayed ACK to request/response traffic (benchmarks go through it).
 *
 * argv: SOCKET_PATH PORT. Prints "ready" on its IPC channel; exits when the channel closes.
 */
import net from "node:net";
import { spliceSockets } from "./socket-splice.js";

const [socketPath, portText] = process.argv.slice(2);
const port = Number(portText);

const server = net.createServer((client) => spliceSockets(client, net.connect({ host: "127.0.0.1", port, noDelay: true })));
server.listen(socketPath, () => process.send?.("ready"));
process.on("disconnect", () => process.exit(0));
