// Deno d.ts: `.json()` parses stdout.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
const data = await sandbox.sh`echo '{"key": "value"}'`.json<{ key: string }>();
assert.equal(data.key, "value");
