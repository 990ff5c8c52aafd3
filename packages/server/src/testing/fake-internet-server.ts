/**
 * The servers of a fake internet (started by fake-internet.ts inside its network namespace):
 * HTTP on 80, HTTPS on 443 (certificates from the test CA, minted per SNI name), a TCP echo on
 * 7000 (and /bytes/N, /small for benchmarks) and a UDP DNS server on 53 (IPv4 and IPv6) that
 * answers the names of the fake internet's table with their addresses and anything else with
 * 198.51.100.99. Listening on every address of the namespace; each answer says which address and
 * Host it reached. Requests are reported to the parent over IPC.
 *
 * Config: JSON in ATOLL_FAKE_INTERNET ({ caCertPem, caKeyPem, table, dnsOnly }). `dnsOnly`: just
 * the DNS server (a fake host's loopback resolver, testing/fake-host.ts).
 */
import dgram from "node:dgram";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import dnsPacket from "dns-packet";
import { LeafMinter } from "../net/cert-authority.js";

interface Config {
  caCertPem: string;
  caKeyPem: string;
  /** Host name → addresses, answered by the DNS server. */
  table?: Record<string, string[]>;
  dnsOnly?: boolean;
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
        remote: (req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
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

const table = new Map(Object.entries(config.table ?? {}).map(([name, addresses]) => [name.toLowerCase(), addresses]));

/** A DNS answer to `msg`: the table's addresses for its names, 198.51.100.99 for any other A query. */
function dnsAnswer(msg: Buffer): Buffer | undefined {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const q = query.questions?.[0];
  if (query.type !== "query" || !q) return undefined;
  const known = table.get(q.name.toLowerCase().replace(/\.$/, ""));
  const addresses = known ?? (q.type === "A" ? ["198.51.100.99"] : []);
  const answers: dnsPacket.Answer[] = addresses
    .filter((a) => (q.type === "AAAA") === a.includes(":") && (q.type === "A" || q.type === "AAAA"))
    .map((data) => ({ type: q.type as "A" | "AAAA", name: q.name, ttl: 60, class: "IN", data }));
  return dnsPacket.encode({ type: "response", id: query.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: [q], answers });
}

/** UDP DNS on port 53 of every IPv4 and IPv6 address of the namespace. */
async function startDns(): Promise<void> {
  const bind = (type: "udp4" | "udp6") =>
    new Promise<void>((resolve, reject) => {
      const sock = dgram.createSocket({ type, ipv6Only: type === "udp6" });
      sock.on("message", (msg, rinfo) => {
        process.send?.({ fake: "dns", from: rinfo.address });
        const answer = dnsAnswer(msg);
        if (answer) sock.send(answer, rinfo.port, rinfo.address);
      });
      sock.once("error", reject);
      sock.bind(53, type === "udp4" ? "0.0.0.0" : "::", () => resolve());
    });
  await Promise.all([bind("udp4"), bind("udp6")]);
}

async function main(): Promise<void> {
  await startDns();
  if (config.dnsOnly) return void process.send?.({ fake: "ready" });
  const plain = http.createServer(handler("http"));
  const secure = https.createServer(
    {
      SNICallback: (name, cb) =>
        contextFor(name).then(
          (ctx) => cb(null, ctx),
          (err: Error) => cb(err),
        ),
    },
    handler("https"),
  );
  const echo = net.createServer((sock) => {
    sock.on("error", () => undefined);
    sock.write(`echo from ${(sock.localAddress ?? "").replace(/^::ffff:/, "")}\n`);
    sock.pipe(sock);
  });
  const listen = (s: net.Server, port: number) => new Promise<void>((resolve) => s.listen(port, "::", () => resolve()));
  await Promise.all([listen(plain, 80), listen(secure, 443), listen(echo, 7000)]);
  process.send?.({ fake: "ready" });
}

process.on("disconnect", () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ fake: "failed", error: String(err) });
  process.exit(1);
});
