#!/usr/bin/env node
/**
 * npm run load -- [cycles|idle|burst|writers|restart|scale|all] [--n N]: load scripts against a real daemon
 * on a temporary state directory, in the default configuration (no network flags) inside a fake
 * host, driven from inside that host (../default-daemon.mjs). They print figures; they assert
 * nothing about time.
 */
import { withDefaultDaemon } from "../default-daemon.mjs";
import { burst } from "./burst.mjs";
import { cycles } from "./cycles.mjs";
import { idle } from "./idle.mjs";
import { restart } from "./restart.mjs";
import { scale } from "./scale.mjs";
import { sharedWriters } from "./shared-writers.mjs";

const which = process.argv[2] ?? "all";
const nFlag = process.argv.indexOf("--n");
const n = nFlag > 0 ? Number(process.argv[nFlag + 1]) : undefined;
const runs = {
  cycles: (ctx) => cycles({ ...ctx, n: n ?? 1000 }),
  idle: (ctx) => idle({ ...ctx, target: n ?? 500 }),
  burst: (ctx) => burst({ ...ctx, n: n ?? 50 }),
  writers: (ctx) => sharedWriters({ ...ctx, writers: n ?? 20 }),
  restart: () => restart({ n: n ?? 100 }),
  scale: (ctx) => scale({ ...ctx, levels: n ? [0, Math.round(n / 2), n] : undefined }),
};
if (which !== "all" && !runs[which]) {
  console.error(`usage: npm run load -- [${Object.keys(runs).join("|")}|all] [--n N]`);
  process.exit(2);
}
// The load runs hold hundreds of sandboxes (and their session sockets) on one token from one
// address: lift the per-client caps (docs/api.md "Limits") so the host, not a cap, is measured.
const limits = { ATOLL_MAX_SESSIONS_PER_TOKEN: "100000", ATOLL_MAX_CONNECTIONS_PER_ADDRESS: "100000" };
await withDefaultDaemon(
  async ({ client, daemon }) => {
    const results = {};
    for (const [name, fn] of Object.entries(runs)) {
      if (which === "all" || which === name) results[name] = await fn({ client, daemon });
    }
    console.log(JSON.stringify({ load: which, at: new Date().toISOString(), results }, null, 2));
  },
  { env: limits },
);
