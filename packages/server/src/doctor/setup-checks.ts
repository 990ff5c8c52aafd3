/**
 * What `scripts/setup.sh` produces and the daemon starts from: Node.js, the SQLite addon, the
 * native helpers (built, runnable, reachable by sandbox root), the base image of the current
 * recipe, and the API's listen address.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { chooseBootstrapTool } from "../image/bootstrap-runner.js";
import { findDerivableImage } from "../image/image-derive.js";
import { readImage } from "../image/image-builder.js";
import { defaultRecipe, recipeHash } from "../image/image-recipe.js";
import { type Check, type Verdict, fail, ok, skip, warn } from "./check-types.js";
import { findTool } from "../host/find-tool.js";
import { type ProbeRun, runProbe } from "./host-probes.js";
import { parentModes, traversalProblem } from "./state-checks.js";

export function judgeNode(version: string): Verdict {
  const major = Number(version.split(".")[0]);
  return major >= 20
    ? ok(`Node.js ${version}`)
    : fail(`Node.js ${version} is older than 20`, "install Node.js 20 or newer (e.g. from NodeSource or nodejs.org)");
}

/** `error`: why better-sqlite3 could not open an in-memory database, or undefined. */
export function judgeSqlite(error: string | undefined): Verdict {
  if (error === undefined) return ok("better-sqlite3 opens a database");
  return fail(
    `the SQLite addon does not load: ${error}`,
    "npm rebuild better-sqlite3 (with npm_config_nodedir=/usr and build-essential, python3 installed), or npm start",
  );
}

async function probeSqlite(): Promise<string | undefined> {
  try {
    const { default: Database } = await import("better-sqlite3");
    new Database(":memory:").close();
    return undefined;
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

/** The native helpers `make` builds (packages/server/native/Makefile). */
export const NATIVE_HELPERS = [
  "atoll-init",
  "atoll-launch",
  "atoll-mount",
  "atoll-fs",
  "atoll-nsconnect",
  "atoll-idshift",
  "atoll-probe",
  "atoll-shim",
] as const;

/** `missing`: helpers not found (or not executable) in the native dir; `seccomp`: atoll-launch --print-seccomp. */
export function judgeNative(nativeDir: string, missing: readonly string[], seccomp: ProbeRun | undefined, blocked: Verdict | undefined): Verdict {
  const fix = "npm run build (it needs build-essential and libseccomp-dev: apt-get install build-essential libseccomp-dev)";
  if (missing.length > 0) return fail(`${missing.join(", ")} missing in ${nativeDir}`, fix);
  if (seccomp && !seccomp.ok) return fail(`atoll-launch does not run: ${seccomp.error}`, `${fix}; apt-get install libseccomp2`);
  if (blocked) return blocked;
  return ok(`${NATIVE_HELPERS.length} helpers in ${nativeDir}`);
}

/** What the host has toward the base image of the current recipe. */
export interface ImageFacts {
  imagesDir: string;
  /** The image of the recipe, when built. */
  ready?: string;
  /** An image of the same recipe for another id range (derived in seconds at start). */
  derivableFrom?: string;
  /** mmdebstrap or debootstrap, when installed. */
  bootstrapTool?: string;
}

export function judgeImage(f: ImageFacts): Verdict {
  if (f.ready) return ok(`ready: ${f.ready}`);
  if (f.derivableFrom)
    return warn(
      `not built for this id range; the daemon derives it from ${f.derivableFrom} at start (seconds, no download)`,
      "nothing to do, or now: atoll image build",
    );
  if (f.bootstrapTool)
    return warn(
      `not built in ${f.imagesDir}; the daemon builds it at start with ${f.bootstrapTool} (about a minute, needs Debian's mirror)`,
      "atoll image build (or npm run setup)",
    );
  return fail(
    `not built in ${f.imagesDir}, and neither mmdebstrap nor debootstrap is installed to build it`,
    "apt-get install mmdebstrap, then atoll image build",
  );
}

function probeImage(imagesDir: string, uidBase: number): ImageFacts {
  const recipe = defaultRecipe({ uidBase });
  const ready = readImage(imagesDir, recipeHash(recipe));
  if (ready) return { imagesDir, ready: ready.dir };
  const sibling = findDerivableImage(imagesDir, recipe, readImage);
  let bootstrapTool: string | undefined;
  try {
    bootstrapTool = chooseBootstrapTool().tool;
  } catch {
    bootstrapTool = undefined;
  }
  return { imagesDir, ...(sibling ? { derivableFrom: sibling.dir } : {}), ...(bootstrapTool ? { bootstrapTool } : {}) };
}

/** What binding the API's address said. */
export type ListenFacts = { port: 0 } | { address: string; error?: string; atollAnswers?: boolean };

export function judgeListen(f: ListenFacts): Verdict {
  if ("port" in f) return skip("port 0: the kernel picks a free port");
  if (!f.error) return ok(`${f.address} is free`);
  const other = "choose another with --listen HOST:PORT / ATOLL_LISTEN";
  if (f.error === "EADDRINUSE" && f.atollAnswers)
    return warn(`an Atoll daemon already answers at ${f.address}`, `stop it before starting another, or ${other}`);
  if (f.error === "EADDRINUSE") return fail(`${f.address} is in use by another program`, `stop it (ss -ltnp to find it), or ${other}`);
  if (f.error === "EADDRNOTAVAIL") return fail(`${f.address}: no such address on this host`, other);
  return fail(`cannot listen on ${f.address}: ${f.error}`, other);
}

async function probeListen(host: string, port: number): Promise<ListenFacts> {
  if (port === 0) return { port: 0 };
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const error = await new Promise<string | undefined>((resolve) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (error !== "EADDRINUSE") return { address, ...(error ? { error } : {}) };
  // Is it an Atoll daemon? Its /healthz answers {"ok":true} without a token.
  const atollAnswers = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(1000) })
    .then(async (r) => r.ok && ((await r.json()) as { ok?: unknown }).ok === true)
    .catch(() => false);
  return { address, error, atollAnswers };
}

export const setupChecks: Check[] = [
  { id: "node", title: "Node.js", atStart: false, run: async () => judgeNode(process.versions.node) },
  { id: "sqlite", title: "SQLite addon", atStart: false, run: async () => judgeSqlite(await probeSqlite()) },
  {
    id: "native",
    title: "native helpers",
    atStart: true,
    run: async (ctx, facts) => {
      const missing = NATIVE_HELPERS.filter((h) => !findTool(h, ctx.nativeDir));
      if (missing.length > 0) return judgeNative(ctx.nativeDir, missing, undefined, undefined);
      const seccomp = await runProbe(join(ctx.nativeDir, "atoll-launch"), ["--print-seccomp"], { searchPath: ctx.searchPath });
      // bwrap, running as sandbox root, opens atoll-init by its path.
      const init = join(ctx.nativeDir, "atoll-init");
      return judgeNative(ctx.nativeDir, missing, seccomp, traversalProblem(parentModes(init), facts.uidBase, init));
    },
  },
  { id: "image", title: "base image", atStart: false, run: async (ctx, facts) => judgeImage(probeImage(ctx.imagesDir, facts.uidBase)) },
  { id: "listen", title: "API address", atStart: false, run: async (ctx) => judgeListen(await probeListen(ctx.listen.host, ctx.listen.port)) },
];
