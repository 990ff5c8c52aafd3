// Run by e2e/sdk-runtimes.itest.ts under Deno and Bun: the SDK's core paths in another runtime.
// ATOLL_URL and ATOLL_TOKEN point at a test daemon. Prints one JSON line.
import { Sandbox } from "atoll";

const volume = await Sandbox.createVolume({ name: `rt-${Math.random().toString(36).slice(2, 8)}`, sizeGb: 0.0625 });
const sandbox = await Sandbox.create({ volumes: [{ id: volume.id, mountPath: "/mnt/v" }] });
try {
  await sandbox.sh`echo ${"hello from"} $(uname -s) > /mnt/v/x`;
  const text = (await sandbox.sh`cat /mnt/v/x`.text()).trimEnd();
  const glob = [];
  for await (const f of sandbox.fs.expandGlob("/mnt/v/{x,{y,z}}")) glob.push(f.path);
  const failed = await sandbox.sh`exit 7`.noThrow();
  let commandError = null;
  try {
    await sandbox.sh`false`;
  } catch (err) {
    commandError = err.code;
  }
  const child = await sandbox.spawn("cat", { stdin: "piped", stdout: "piped" });
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("piped through"));
  await writer.close();
  const out = await child.output();
  console.log(JSON.stringify({ text, glob, code: failed.status.code, commandError, stdin: new TextDecoder().decode(out.stdout) }));
} finally {
  await sandbox.kill();
  await Sandbox.deleteVolume(volume.id);
}
