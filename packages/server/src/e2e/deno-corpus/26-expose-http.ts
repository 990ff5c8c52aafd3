// Deno docs: exposeHttp({ port }) gives a URL that reaches a server in the sandbox.
import assert from "node:assert/strict";
import { Sandbox } from "@deno/sandbox";

await using sandbox = await Sandbox.create();
await sandbox.fs.mkdir("/tmp/www");
await sandbox.fs.writeTextFile("/tmp/www/index.html", "served from the sandbox");
const server = await sandbox.spawn("python3", { args: ["-m", "http.server", "8000", "--directory", "/tmp/www"] });
await sandbox.sh`for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/8000) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`;
const url = await sandbox.exposeHttp({ port: 8000 });
const res = await fetch(new URL("index.html", url.endsWith("/") ? url : `${url}/`));
assert.equal(await res.text(), "served from the sandbox");
await server.kill();
