/** Units of network adoption: reading nft state back, names and numbers of kept namespaces, the netd socket's framing. */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { numberOf, seqOfNetns } from "./adoption-state.js";
import { buildAddressPlan } from "./address-plan.js";
import { MAX_MESSAGE_BYTES, SocketEndpoint } from "./netd/socket-endpoint.js";
import { dropSeqScript, parseTable } from "./nft-state.js";

// As `nft -j list table inet atoll` printed it (nftables 1.0.6), with a sandbox of seq 3.
const TABLE_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6" } },
    { table: { family: "inet", name: "atoll", handle: 1 } },
    { map: { family: "inet", name: "fwd4", table: "atoll", type: "ipv4_addr", map: "verdict", elem: [["10.73.0.2", { jump: { target: "f3" } }]] } },
    { map: { family: "inet", name: "nat6", table: "atoll", type: "ipv6_addr", map: "verdict", elem: [["fd00:1::1", { jump: { target: "n3" } }]] } },
    {
      set: {
        family: "inet",
        name: "l4_3",
        table: "atoll",
        type: ["ipv4_addr", "inet_service"],
        flags: ["interval"],
        elem: [{ concat: ["1.2.3.4", 22] }, { concat: ["1.2.3.4", { range: [1000, 2000] }] }, { concat: ["5.6.7.8", { range: [1, 79] }] }],
      },
    },
    { set: { family: "inet", name: "i4_3", table: "atoll", type: "ipv4_addr", elem: ["9.9.9.9", { elem: { val: "9.9.9.8", timeout: 10 } }] } },
    { set: { family: "inet", name: "c6_3", table: "atoll", type: "ipv6_addr", flags: ["interval"] } },
    { set: { family: "inet", name: "deny4", table: "atoll", type: "ipv4_addr" } },
    { chain: { family: "inet", table: "atoll", name: "f3", handle: 1 } },
    { chain: { family: "inet", table: "atoll", name: "n3", handle: 2 } },
    { chain: { family: "inet", table: "atoll", name: "forward", handle: 3 } },
  ],
});

test("parseTable gives each seq its admitted addresses, intercepted ones, sets, chains and dispatch entries", () => {
  const t = parseTable(TABLE_JSON);
  assert.deepEqual([...t.keys()], [3]);
  const s = t.get(3)!;
  assert.deepEqual(
    [...s.learned],
    [
      [
        "1.2.3.4",
        [
          [22, 22],
          [1000, 2000],
        ],
      ],
      ["5.6.7.8", [[1, 79]]],
    ],
  );
  assert.deepEqual([...s.intercepted], ["9.9.9.9", "9.9.9.8"]);
  assert.deepEqual(s.sets, ["l4_3", "i4_3", "c6_3"]);
  assert.deepEqual(s.chains, ["f3", "n3"]);
  assert.deepEqual(s.dispatch, [
    { map: "fwd4", key: "10.73.0.2" },
    { map: "nat6", key: "fd00:1::1" },
  ]);
  const script = dropSeqScript(s);
  assert.ok(script.indexOf("delete element inet atoll fwd4 { 10.73.0.2 }") < script.indexOf("delete chain inet atoll f3"), script);
  assert.match(script, /delete set inet atoll l4_3\n/);
  assert.doesNotMatch(script, /forward|deny4/);
});

test("kept namespaces: only this router's names give a seq; numbers are the plan's inverse", () => {
  assert.equal(seqOfNetns("atoll-0a1b2c3d", "atoll-0a1b2c3d-beef-17"), 17);
  assert.equal(seqOfNetns("atoll-0a1b2c3d", "atoll-0a1b2c3e-beef-17"), undefined);
  assert.equal(seqOfNetns("atoll-0a1b2c3d", "atoll-0a1b2c3d"), undefined);
  assert.equal(seqOfNetns("atoll-0a1b2c3d", "atoll-0a1b2c3d-beef-17/../x"), undefined);
  const plan = buildAddressPlan("10.73.0.0/16", "/var/lib/atoll");
  const { ipv4, ipv6 } = plan.sandbox(300);
  assert.equal(numberOf(plan, ipv4, ipv6), 300);
  assert.equal(numberOf(plan, ipv4, plan.sandbox(301).ipv6), undefined, "both addresses must be the plan's");
  assert.equal(numberOf(plan, plan.gateway4), undefined);
  assert.equal(numberOf(plan, "10.74.0.2"), undefined);
});

test("the netd socket's framing: messages both ways, a line longer than the bound ends the connection", async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = new SocketEndpoint(net.connect(port, "127.0.0.1"));
  const peer = new SocketEndpoint(await accepted);
  const got = new Promise<unknown>((r) => peer.on("message", r));
  client.send({ hello: "wörld\nwith newline" });
  assert.deepEqual(await got, { hello: "wörld\nwith newline" });
  const closed = new Promise<void>((r) => peer.on("disconnect", r));
  let received = 0;
  peer.on("message", () => received++);
  client.socket.write(Buffer.alloc(MAX_MESSAGE_BYTES + 128 * 1024, 0x61));
  await closed;
  assert.equal(received, 0);
  assert.equal(peer.connected, false);
  client.close();
  server.close();
});
