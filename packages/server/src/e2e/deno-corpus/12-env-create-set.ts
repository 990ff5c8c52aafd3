// Deno: env given on create and set later both reach commands.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create({ env: { GREETING: "hello" } });
await sandbox.env.set("NAME", "deno");
assert.equal(await sandbox.sh`echo "$GREETING $NAME"`.text(), "hello deno\n");
