/**
 * The servers of a fake internet (started by fake-internet.ts inside its network namespace):
 * HTTP on 80, HTTPS on 443 (certificates from the test CA, minted per SNI name), a TCP echo on
 * 7000 (and /bytes/N, /small for benchmarks) and a UDP "DNS server" on 53 that answers anything with 198.51.100.99. Listening on every
 * address of the namespace; each answer says which address and Host it reached. Requests are
 * reported to the parent over IPC.
 *
 * Config: JSON in ATOLL_FAKE_INTERNET ({ caCertPem, caKeyPem }).
 */
import dgram from "node:dgram";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { LeafMinter } from "../net/cert-authority.js";

interface Config {
  caCertPem: string;
  caKeyPem: string;
}

const config = JSON.parse(process.env.ATOLL_FAKE_INTERNET ?? "{}") as Config;
const minter = new LeafMinter({ certPem: config.caCertPem, keyPem: config.caKeyPem });
const contexts = new Map<string, Promise<tls.SecureContext>>();

function contextFor(name: string): Promise<tls.SecureContext> {
  let c = contexts.get(name);
  if (!c) {
    c = minter.mint(name).then(({ certPem, keyPem }) => tls.createSecureContext({ cert: certPem, key: keyPem }));
    contexts.set(name, c);
  }
  return c;
}

function handler(scheme: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    // /bytes/N: N zero bytes, not recorded (throughput benchmarks).
    const bytes = /^\/bytes\/(\d{1,10})$/.exec(req.url ?? "");
    if (bytes) {
      const n = Math.min(Number(bytes[1]), 2 ** 30);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
      const block = Buffer.alloc(Math.min(n, 1 << 20));
      let left = n;
      const pump = () => {
        while (left > 0) {
          const piece = left >= block.length ? block : block.subarray(0, left);
          left -= piece.length;
          if (!res.write(piece)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      return;
    }
    // /small: a tiny answer, not recorded.
    if (req.url === "/small") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
      res.end("ok");
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const record = {
        scheme,
        method: req.method,
        url: req.url,
        host: req.headers.host ?? null,
        local: (req.socket.localAddress ?? "").replace(/^::ffff:/, ""),
        headers: req.headers,
        bodyBytes: Buffer.concat(chunks).length,
        body: Buffer.concat(chunks).toString("utf8").slice(0, 4096),
      };
      process.send?.({ fake: "request", record });
      const body = JSON.stringify(record);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  };
}

async function main(): Promise<void> {
  const plain = http.createServer(handler("http"));
  const secure = https.createServer(
    {
      SNICallback: (name, cb) => contextFor(name).then((ctx) => cb(null, ctx), (err: Error) => cb(err)),
    },
    handler("https"),
  );
  const echo = net.createServer((sock) => {
    sock.on("error", () => undefined);
    sock.write(`echo from ${(sock.localAddress ?? "").replace(/^::ffff:/, "")}\n`);
    sock.pipe(sock);
  });
  const dns = dgram.createSocket("udp4");
  dns.on("message", (msg, rinfo) => {
    process.send?.({ fake: "dns", from: rinfo.address });
    if (msg.length < 12) return;
    // Echo the query back as a response with one A record 198.51.100.99 (enough for a test).
    const header = Buffer.from(msg.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 6);
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 99]);
    dns.send(Buffer.concat([header, msg.subarray(12), answer]), rinfo.port, rinfo.address);
  });
  const listen = (s: net.Server, port: number) => new Promise<void>((resolve) => s.listen(port, "::", () => resolve()));
  await Promise.all([listen(plain, 80), listen(secure, 443), listen(echo, 7000), new Promise<void>((r) => dns.bind(53, "0.0.0.0", () => r()))]);
  process.send?.({ fake: "ready" });
}

process.on("disconnect", () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ fake: "failed", error: String(err) });
  process.exit(1);
});
