/**
 * The Linux network driver keeps the NetworkDriver contract (testing/contracts/network-contract.ts),
 * the same suite the in-memory fake of the unit tier passes. Root: network namespaces, veths,
 * nftables, netd; the router's uplink goes into a fake internet (testing/fake-internet.ts), so
 * nothing leaves the machine.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NetworkAttachment } from "../core/drivers.js";
import { networkContract } from "../testing/contracts/network-contract.js";
import { killAndWait, startFakeInternet } from "../testing/fake-internet.js";
import { LinuxNetworkDriver } from "./linux-network-driver.js";
import { execFileRunner } from "../host/run-command.js";
import { resolveNetConfig } from "./net-config.js";

const ECHO = { name: "echo.test", address: "203.0.113.7", port: 7000 };
const OTHER = { name: "other.test", address: "198.51.100.8" };
const NATIVE_DIR = path.resolve(process.env.ATOLL_NATIVE_DIR ?? fileURLToPath(new URL("../../native/build", import.meta.url)));

/** A TCP echo server on every address of the namespace (argv: port); prints "ready" once it listens. */
const ECHO_SERVER = `
const net = require("node:net");
net.createServer((s) => { s.on("error", () => {}); s.pipe(s); }).listen(Number(process.argv[1]), "::", () => console.log("ready"));
`;

async function startEchoIn(netnsPath: string, port: number): Promise<ChildProcess> {
  const child = spawn("nsenter", [`--net=${netnsPath}`, "--", process.execPath, "-e", ECHO_SERVER, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      if (text.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`echo server in ${netnsPath} exited with ${code}`)));
  });
  return child;
}

networkContract("Linux driver (namespaces, nftables, netd)", async () => {
  const internet = await startFakeInternet({ [ECHO.name]: [ECHO.address], [OTHER.name]: [OTHER.address] });
  const stateDir = await mkdtemp("/var/tmp/atoll-network-contract-");
  const n = internet.daemonNet();
  const config = resolveNetConfig({ network: "on", uplink: n.uplink!, dns: n.dns!, upstreamCa: n.upstreamCa!, netOpen: n.netOpen! }, {});
  const make = () => new LinuxNetworkDriver({ config, stateDir, nativeDir: NATIVE_DIR, poolSize: 1, runner: execFileRunner });
  const driver = make();
  try {
    await driver.start();
  } catch (err) {
    await internet.dispose();
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const subject = {
    driver,
    echo: ECHO,
    other: OTHER,
    async listenInside(_id: string, attachment: NetworkAttachment, port: number) {
      const child = await startEchoIn(attachment.netnsPath, port);
      return () => killAndWait(child);
    },
    // The first driver is dropped as a dying daemon leaves it: namespaces, router, netd stay.
    async restart(keep: string[]) {
      await subject.driver.detach();
      const next = make();
      await next.start(keep);
      subject.driver = next;
    },
    async dispose() {
      await subject.driver.close();
      await internet.dispose();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return subject;
});
