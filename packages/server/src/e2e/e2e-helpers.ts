import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { after, before } from "node:test";
import { AtollError, Client, type Sandbox } from "atoll";
import { type TestDaemon, startTestDaemon } from "../testing/daemon-harness.js";

/**
 * Awaits `promise`, expecting it to fail with an Atoll error of `code`; returns the error so the
 * test can look at its message and details.
 */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<AtollError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AtollError && err.code === code) return err;
    throw new Error(`expected ${code}, got ${err instanceof AtollError ? err.code : String(err)}: ${(err as Error).message}`);
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/**
 * What the daemon of `stateDir` has on the host right now for sandboxes and volumes: loop
 * devices and mounts. The runtime's warm pool of ready scratch filesystems (`scratch/pool-*`,
 * `run/pool/*`), its lxcfs (`run/lxcfs`), the copy-on-write pool of volume images
 * (`cow-pool.xfs` at `run/cow-pool`) and the pin of its base mount namespace (`run/mntns-base`)
 * belong to the live daemon and are left out.
 */
export function hostFootprint(stateDir: string): { loops: string[]; mounts: string[] } {
  const loops = execFileSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(stateDir) && !l.includes(`${stateDir}/scratch/pool-`) && !l.endsWith(`${stateDir}/cow-pool.xfs`));
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter(
      (m) =>
        m.startsWith(`${stateDir}/run/`) &&
        !m.startsWith(`${stateDir}/run/pool/`) &&
        ![`${stateDir}/run/lxcfs`, `${stateDir}/run/cow-pool`, `${stateDir}/run/mntns-base`].includes(m),
    );
  return { loops, mounts };
}

/**
 * Where the daemon of `stateDir` keeps volume images: the copy-on-write pool
 * (`run/cow-pool/volumes`) when it has one, else `volumes/` (docs/snapshots.md).
 */
export function volumeImagesDir(stateDir: string): string {
  const pool = path.join(stateDir, "run", "cow-pool", "volumes");
  return existsSync(pool) ? pool : path.join(stateDir, "volumes");
}

/** The image file of volume `id` of the daemon of `stateDir`. */
export function volumeImage(stateDir: string, id: string): string {
  return path.join(volumeImagesDir(stateDir), `${id}.img`);
}

/**
 * One real daemon for a whole test file: started before the first test, disposed after the
 * last. The fields are set once `before` ran.
 *
 * @example const ctx = useDaemon(); test("x", async () => { await ctx.client.listVolumes(); });
 */
export function useDaemon(): { daemon: TestDaemon; client: Client } {
  const ctx = {} as { daemon: TestDaemon; client: Client };
  before(async () => {
    ctx.daemon = await startTestDaemon();
    ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
  });
  after(() => ctx.daemon?.dispose());
  return ctx;
}

/** A TCP port free right now on 127.0.0.1 (for a listener a daemon or a service is told to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/**
 * The variables that point Deno's own client (`@deno/sandbox`) at a daemon: sandboxes and the
 * deploy API at its URL, its token. The client asks for an organisation unless the token starts
 * with "ddo_"; Atoll ignores it.
 *
 * @example Object.assign(process.env, denoClientEnv(daemon));
 */
export function denoClientEnv(daemon: { url: string; token: string }): Record<string, string> {
  return { DENO_SANDBOX_ENDPOINT: daemon.url, DENO_DEPLOY_ENDPOINT: daemon.url, DENO_DEPLOY_TOKEN: daemon.token, DENO_DEPLOY_ORG: "default" };
}

/**
 * `useDaemon()` whose daemon a user's program finds as it would in production: through
 * ATOLL_URL and ATOLL_TOKEN (set for this test process once `before` ran), plus `moreEnv`'s
 * variables (e.g. DENO_SANDBOX_ENDPOINT for Deno's own client).
 *
 * @example useDaemonFromEnv(); test("x", async () => { await using sb = await Sandbox.create(); });
 */
export function useDaemonFromEnv(moreEnv?: (daemon: TestDaemon) => Record<string, string>): { daemon: TestDaemon; client: Client } {
  const ctx = {} as { daemon: TestDaemon; client: Client };
  before(async () => {
    ctx.daemon = await startTestDaemon();
    ctx.client = new Client({ url: ctx.daemon.url, token: ctx.daemon.token });
    process.env.ATOLL_URL = ctx.daemon.url;
    process.env.ATOLL_TOKEN = ctx.daemon.token;
    Object.assign(process.env, moreEnv?.(ctx.daemon));
  });
  after(() => ctx.daemon?.dispose());
  return ctx;
}

/**
 * Makes `await using` kill `sandbox` whatever its timeout. Since Deno Sandbox's meaning won
 * (docs/deno-compatibility.md), `await using` only closes a sandbox created with a fixed
 * `timeout`; tests that give one and expect it gone after their block wrap it in this.
 *
 * @example await using sb = killOnDispose(await client.createSandbox({ timeout: "5m" }));
 */
export function killOnDispose(sandbox: Sandbox): Sandbox {
  Object.defineProperty(sandbox, Symbol.asyncDispose, { value: () => sandbox.kill() });
  return sandbox;
}
