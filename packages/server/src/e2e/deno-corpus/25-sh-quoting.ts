// Deno d.ts: substituted values are escaped for the shell; an array becomes several arguments.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const evil = "$(echo pwned); `id` 'q' \"d\"";
assert.equal(await sandbox.sh`printf '%s\n' ${evil}`.text(), `${evil}\n`);
assert.equal(await sandbox.sh`printf '<%s>' ${["a b", "c"]}`.text(), "<a b><c>");
