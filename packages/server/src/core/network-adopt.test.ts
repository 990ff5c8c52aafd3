/**
 * NetworkService across a daemon restart (docs/network.md, "Daemon restarts"): a second service
 * on the same store and the same (fake) host adopts a sandbox's network from its row, serves its
 * exposed ports again at the same URLs, and the networks it did not adopt are removed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { KeyedMutex } from "../host/keyed-mutex.js";
import { openDatabase } from "../store/database.js";
import { SandboxRepo } from "../store/sandbox-repo.js";
import { FakeNetHost, FakeNetwork } from "../testing/fakes/fake-network.js";
import { NetworkService } from "./network-service.js";

const ECHO = { name: "echo.test", address: "203.0.113.7", port: 7000 };

function row(repo: SandboxRepo, id: string): void {
  const now = new Date().toISOString();
  repo.insert({
    id,
    tenant: "default",
    state: "running",
    stopReason: null,
    createdAt: now,
    stoppedAt: null,
    timeout: "5m",
    expiresAt: null,
    labels: {},
    env: {},
    memoryBytes: 1 << 28,
    pids: 256,
    cpuWeight: 100,
    rootfsBytes: 1 << 30,
  });
}

test("a second network service adopts a sandbox from its row: policy, exposed URL, and drops the rest", async () => {
  const db = openDatabase(":memory:");
  const repo = new SandboxRepo(db);
  const host = new FakeNetHost();
  const opened: { token: string; previousUrl: string | undefined }[] = [];
  let n = 0;
  const service = (driver: FakeNetwork) =>
    new NetworkService({
      driver,
      repo,
      locks: new KeyedMutex(),
      logger: pino({ level: "silent" }),
      assertRunning: () => undefined,
      tenantOpen: () => [],
      front: {
        open: async (token, previousUrl) => {
          opened.push({ token, previousUrl });
          return previousUrl ?? `http://127.64.0.${++n}:4000/${token}/`;
        },
        close: () => undefined,
      },
      isAtollToken: () => false,
    });
  const makeDriver = () => new FakeNetwork({ host, netOpen: ["documentation"], names: { [ECHO.name]: [ECHO.address] } });
  const first = makeDriver();
  first.serveOutside(ECHO.address, ECHO.port, (sock) => sock.end("hi"));
  const a = service(first);
  for (const id of ["sbx_keep", "sbx_gone", "sbx_old"]) row(repo, id);
  const plan = a.plan({ allowNet: [ECHO.name], secrets: { TOKEN: { hosts: [ECHO.name], value: "s3cret" } }, port: 3000 }, "default");
  await a.attach("sbx_keep", plan);
  await a.afterStart("sbx_keep", plan);
  await a.attach("sbx_gone", a.plan({}, "default"));
  // A row written before adoption existed has no namespace path: it cannot be adopted.
  repo.setNetwork("sbx_old", null, JSON.stringify({ ipv4: "10.73.0.99", ipv6: "fd00::99", exposed: [], port: null }));
  const keepRow = repo.get("default", "sbx_keep")!;
  assert.ok(!keepRow.network!.includes("s3cret"), "the store never holds a secret's value");
  const urlBefore = a.info(keepRow.network!).url;

  await first.detach(); // the daemon dies; the host keeps the networks
  const second = makeDriver();
  await second.start(NetworkService.keepForAdoption(repo.listLive()));
  const b = service(second);
  await b.adopt(repo.get("default", "sbx_keep")!);
  await assert.rejects(b.adopt(repo.get("default", "sbx_old")!), { code: "NETWORK_FAILED" });
  await b.endAdoption();

  assert.deepEqual(second.attachedIds, ["sbx_keep"]);
  assert.equal(host.nets.size, 1, "the network nobody adopted is gone");
  assert.equal(b.info(repo.get("default", "sbx_keep")!.network!).url, urlBefore);
  assert.equal(opened.at(-1)?.previousUrl, urlBefore, "the exposure is served again at its URL");
  assert.deepEqual(await second.resolve("sbx_keep", ECHO.name), [ECHO.address], "its allowNet came back from the store");
  assert.deepEqual(await second.resolve("sbx_keep", "other.test"), []);
  await b.release("sbx_keep");
  assert.equal(host.nets.size, 0);
  db.close();
});
