// Deno runs `sh` commands with bash: arrays, [[ ]] and $BASH_VERSION work.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const out = await sandbox.sh`a=(x y z); [[ -n $BASH_VERSION ]] && echo "\${#a[@]} \${a[1]}"`.text();
assert.equal(out, "3 y\n");
