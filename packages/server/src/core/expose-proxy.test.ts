import assert from "node:assert/strict";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { after, test } from "node:test";
import { type ExposeTarget, NOT_EXPOSED, proxyRequest } from "./expose-proxy.js";

const TOKEN = `atl_${"cd".repeat(32)}`;

/** A loopback "sandbox server" answering `answer` and recording request heads. */
async function app(answer: string): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((sock) => {
    let got = "";
    sock.on("error", () => undefined);
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (!got.includes("\r\n\r\n")) return;
      heads.push(got.slice(0, got.indexOf("\r\n\r\n")));
      sock.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => server.close());
  return { port: (server.address() as AddressInfo).port, heads };
}

/** A front that routes every request to `target` with the gate cookie as extra header. */
async function front(target: ExposeTarget): Promise<string> {
  const server = http.createServer((req, res) =>
    proxyRequest(target, req, res, { token: "t", path: "/inner", extraHeaders: ["set-cookie", "atoll_expose=t"] }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const to = (port: number): ExposeTarget => ({ connect: async () => net.connect(port, "127.0.0.1"), isAtollToken: (v) => v === TOKEN });

test("the sandbox gets the request without the daemon's credentials or hop-by-hop headers; the caller gets the gate cookie", async () => {
  const a = await app("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
  const url = await front(to(a.port));
  const res = await fetch(`${url}/outer`, {
    headers: { authorization: `Bearer ${TOKEN}`, cookie: "atoll_session=s; app=1", "x-app": "v", "proxy-authorization": "Basic eA==" },
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "hi");
  assert.equal(res.headers.get("set-cookie"), "atoll_expose=t");
  const head = a.heads[0]!.toLowerCase();
  assert.match(head, /^get \/inner http\/1\.1\r\n/);
  assert.match(head, /\r\ncookie: app=1/);
  assert.match(head, /\r\nx-app: v/);
  assert.doesNotMatch(head, /authorization|atoll_session/);
});

test("a head Node cannot write is a 502 for that request; a missing exposure a 404", async () => {
  const a = await app("HTTP/1.1 000 X\r\nContent-Length: 0\r\n\r\n");
  const bad = await fetch(`${await front(to(a.port))}/`);
  assert.equal(bad.status, 502);
  assert.match(await bad.text(), /cannot forward: its status 000/);
  const gone = await fetch(`${await front({ connect: async () => ({ missing: true, message: NOT_EXPOSED }), isAtollToken: () => false })}/`);
  assert.equal(gone.status, 404);
  assert.equal((await gone.text()).trim(), NOT_EXPOSED);
});
