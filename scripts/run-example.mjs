#!/usr/bin/env node
// npm run example -- NAME: runs examples/NAME.ts (compiled by `npm run build` to examples/dist).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const name = process.argv[2];
const available = readdirSync(new URL("../examples/", import.meta.url))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run example -- NAME\nexamples: ${available.join(", ")}`);
  process.exit(2);
}
const compiled = new URL(`../examples/dist/${name}.js`, import.meta.url);
if (!existsSync(compiled)) {
  console.error("examples are not built yet: run `npm run build` (or `npm start` once)");
  process.exit(2);
}
const result = spawnSync(process.execPath, [compiled.pathname], { stdio: "inherit" });
process.exit(result.status ?? 1);
