// Deno docs (root): a volume made `from` the builtin image is bootable; a sandbox with that volume
// as `root` boots from it read-write, so what it writes anywhere persists into the next sandbox.
// (Deno's builtin is "builtin:debian-13"; Atoll's base image is Debian 12.)
import assert from "node:assert/strict";
import { Client, Sandbox } from "@deno/sandbox";

const client = new Client();
const image = await client.volumes.create({ slug: `image-${process.pid}`, region: "ord", capacity: "1GiB", from: "builtin:debian-12" });
assert.equal(image.isBootable, true);
assert.equal(image.baseSnapshot, null);
{
  await using sandbox = await Sandbox.create({ region: "ord", root: image.slug });
  assert.match(await sandbox.sh`cat /etc/debian_version`.text(), /^12\./);
  await sandbox.sh`echo installed > "$HOME/tool.txt"`;
}
{
  await using sandbox = await Sandbox.create({ region: "ord", root: image.id });
  assert.equal(await sandbox.sh`cat "$HOME/tool.txt"`.text(), "installed\n");
}
assert.equal((await client.volumes.get(image.slug))?.isBootable, true);
await client.volumes.delete(image.slug);
