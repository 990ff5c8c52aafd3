/**
 * The daemon the figures are measured on: the default configuration, as `npm start` runs it (no
 * network flags: uplink `host`, DNS `host`), inside a fake host whose default route leads to a
 * fake internet on this machine (packages/server/dist/testing/fake-host.js). Nothing leaves the
 * machine; the harness refuses to start the daemon anywhere else.
 *
 * The measuring script runs inside the fake host too, as a user's program runs on the host: it
 * talks to the daemon on the fake host's 127.0.0.1, with no relay in between.
 *
 * @example
 *   await withDefaultDaemon(async ({ client, daemon }) => { … figures … });
 */
import { spawn } from "node:child_process";
import { Client } from "atoll";
import { startTestDaemon } from "../packages/server/dist/testing/daemon-harness.js";
import { startFakeHost } from "../packages/server/dist/testing/fake-host.js";

/** Names of the fake internet the benchmarks use. */
export const BENCH_HOSTS = { "bench.example": ["203.0.113.50"] };

const INSIDE = "ATOLL_BENCH_DAEMON";

/**
 * Outside: starts the fake host and the daemon, runs this same script again inside the fake
 * host, cleans up and exits with its status. Inside: calls `main` with a client of that daemon
 * and `daemon` = { url, token, pid, stateDir }. `env` adds ATOLL_* settings for the daemon.
 */
export async function withDefaultDaemon(main, { env: daemonEnv } = {}) {
  const inside = process.env[INSIDE];
  if (inside) {
    const daemon = JSON.parse(inside);
    await main({ client: new Client({ url: daemon.url, token: daemon.token }), daemon });
    return;
  }
  const host = await startFakeHost(BENCH_HOSTS);
  let status = 1;
  try {
    const daemon = await startTestDaemon({ host, env: daemonEnv });
    try {
      const env = { ...process.env, [INSIDE]: JSON.stringify({ url: daemon.insideUrl, token: daemon.token, pid: daemon.pid, stateDir: daemon.stateDir }) };
      const child = spawn("nsenter", [`--net=/run/netns/${host.netns}`, "--", process.execPath, ...process.argv.slice(1)], { stdio: "inherit", env });
      status = await new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
      if (status !== 0) console.error(`the daemon's last log lines:\n${daemon.logs.slice(-30).join("\n")}`);
    } finally {
      await daemon.dispose();
    }
  } finally {
    await host.dispose();
  }
  process.exitCode = status;
}
