// Writes the seeds of the netd fuzz targets (corpus/sni, corpus/dns-query): ClientHellos that
// Node's own TLS client sends (captured on 127.0.0.1) and queries as dns-packet encodes them.
// Run from packages/server: node fuzz/seed-corpus.mjs
import { writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import dnsPacket from "dns-packet";

const dir = new URL("./corpus/", import.meta.url);

function captureHello(options) {
  return new Promise((resolve) => {
    const server = net.createServer((s) =>
      s.once("data", (d) => {
        resolve(d);
        s.destroy();
        server.close();
      }),
    );
    server.listen(0, "127.0.0.1", () => {
      const c = tls.connect({ host: "127.0.0.1", port: server.address().port, ...options });
      c.on("error", () => undefined);
    });
  });
}

const hellos = {
  "node-tls13-sni": { servername: "api.example.com" },
  "node-tls12-sni": { servername: "Mixed.Case.example.org", maxVersion: "TLSv1.2" },
  "node-alpn-sni": { servername: "h2.example.net", ALPNProtocols: ["h2", "http/1.1"] },
  "node-no-sni": {},
};
for (const [name, options] of Object.entries(hellos)) writeFileSync(new URL(`sni/${name}.bin`, dir), await captureHello(options));

const query = (name, type, extra = {}) =>
  dnsPacket.encode({ type: "query", id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: "IN" }], ...extra });
writeFileSync(new URL("dns-query/a.bin", dir), query("example.com", "A"));
writeFileSync(new URL("dns-query/aaaa-edns.bin", dir), query("api.example.com", "AAAA", { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232 }] }));
writeFileSync(new URL("dns-query/txt-long-name.bin", dir), query(`${"a".repeat(63)}.${"b".repeat(63)}.example.org`, "TXT"));
