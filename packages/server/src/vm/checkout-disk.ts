/**
 * The checkout as the test:vm guest sees it: a small ext4 disk made for each run from the built
 * tree (packages with their dist/ and native/build, scripts, node_modules without the large
 * runtimes only other tests use), mounted read-only in the guest at the checkout's host path.
 * A disk, not a 9p share: node loads the daemon's modules about twice as fast from it under
 * emulation (5 s against 8–17 s for `import("daemon.js")`).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runTool } from "./run-tool.js";

/** node_modules entries the guest never loads (other runtimes, the compiler, the browser driver): 240 MB. */
export const SKIPPED_MODULES: readonly string[] = ["bun", "@oven", "deno", "@deno", "typescript", "playwright-core"];

/** Top-level entries of the checkout the guest needs. */
const ENTRIES = ["package.json", "scripts", "packages"];

/** Writes `<dir>/checkout.img` (label atoll-checkout) from the checkout at `repo`; returns its path. */
export async function makeCheckoutDisk(repo: string, dir: string): Promise<string> {
  if (!existsSync(join(repo, "packages/server/dist/cli/main.js")) || !existsSync(join(repo, "packages/server/native/build/atoll-launch"))) {
    throw new Error(`${repo} is not built: run \`npm run build\` (or \`bash scripts/setup.sh --vm\`) first`);
  }
  const stage = join(dir, "checkout");
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, "node_modules"), { recursive: true });
  await runTool("cp", ["-a", ...ENTRIES.map((e) => join(repo, e)), stage]);
  const modules = readdirSync(join(repo, "node_modules")).filter((e) => !SKIPPED_MODULES.includes(e));
  await runTool("cp", ["-a", ...modules.map((e) => join(repo, "node_modules", e)), join(stage, "node_modules")]);
  const sizeMiB = Number((await runTool("du", ["-sm", stage])).toString().split(/\s/)[0]);
  const image = join(dir, "checkout.img");
  rmSync(image, { force: true });
  await runTool("mke2fs", ["-q", "-t", "ext4", "-L", "atoll-checkout", "-d", stage, image, `${Math.max(512, sizeMiB * 2 + 64)}M`]);
  rmSync(stage, { recursive: true });
  return image;
}
