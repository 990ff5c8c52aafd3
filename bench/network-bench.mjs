/**
 * Network figures: what networking adds to sandbox creation, and HTTP through the egress proxy
 * versus a direct route, in the same run. Traffic goes through the default configuration's host
 * uplink into a fake internet on this machine (default-daemon.mjs, BENCH_HOSTS).
 */
import { Client } from "atoll";
import { startTestDaemon } from "../packages/server/dist/testing/daemon-harness.js";
import { createToFirstOutputTimed } from "./sandbox-bench.mjs";

const CLIENT = `
import http.client, sys, time
host, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection(host, 80, timeout=30)
c.request("GET", "/small"); c.getresponse().read()  # warm
t = time.time()
for _ in range(n):
    c.request("GET", "/small"); c.getresponse().read()
rps = n / (time.time() - t)
t = time.time(); total = 0
c.request("GET", "/bytes/%d" % size); r = c.getresponse()
while True:
    b = r.read(1 << 20)
    if not b: break
    total += len(b)
print(rps, total / (time.time() - t) / 1e6)
`;

/** ms create → first output on a daemon without networking (--network off), same N. */
export async function createWithoutNetworking(n) {
  const daemon = await startTestDaemon({ net: { network: "off" } });
  try {
    return await createToFirstOutputTimed(new Client({ url: daemon.url, token: daemon.token }), n);
  } finally {
    await daemon.dispose();
  }
}

/**
 * HTTP requests/s (keep-alive, tiny answers) and download MB/s from a sandbox of `client`'s
 * default-configuration daemon to the fake internet's bench.example: through the proxy (host
 * name rule → TCP 80 is proxied) and direct (IP rule → routed), both through the host uplink.
 */
export async function proxyVersusDirect(client, { requests = 500, bytes = 64 * 2 ** 20, runs = 3 } = {}) {
  const out = {};
  for (const [label, allowNet, host] of [
    ["proxy", ["bench.example"], "bench.example"],
    ["direct", ["203.0.113.50"], "203.0.113.50"],
  ]) {
    const sb = await client.createSandbox({ allowNet, timeout: "10m" });
    try {
      const rps = [];
      const mbs = [];
      for (let i = 0; i < runs; i++) {
        const [r, m] = (await sb.sh`python3 -c ${CLIENT} ${host} ${requests} ${bytes}`.text()).trimEnd().split(/\s+/).map(Number);
        rps.push(r);
        mbs.push(m);
      }
      out[label] = { rps: Math.max(...rps), mbs: Math.max(...mbs) };
    } finally {
      await sb.kill();
    }
  }
  return out;
}
