#!/usr/bin/env node
// The `atoll` command (`npx atoll …` in a checkout). npm links a package's bins when it installs
// it, before anything is built, so the bin is this committed launcher: it runs the compiled CLI,
// or says how to build it when dist/ is not there yet.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  process.stderr.write(`atoll: not built yet: run \`npm run build\` (or \`npm start\`, which also sets up the host) in ${root}\n`);
  process.exit(1);
}
await import(main.href);
