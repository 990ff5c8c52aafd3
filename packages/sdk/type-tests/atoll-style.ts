/** Atoll's own API style (the specification's forms) must keep compiling. */
import { AtollError, Client, CommandError, Sandbox, type SandboxInfo, type Volume, secret } from "atoll";

export async function atollStyle(): Promise<void> {
  const volume: Volume = await Sandbox.createVolume({ name: "agent-cache", sizeGb: 5 });
  await using sandbox = await Sandbox.create({
    memory: "1GiB",
    timeout: "5m",
    volumes: [{ id: volume.id, mountPath: "/mnt/cache", accessMode: "rw" }],
  });
  await sandbox.sh`ls /mnt/cache`;
  const lines: string[] = await sandbox.sh`ls`.cwd("/tmp").lines();
  const text: string = await sandbox.sh`curl -H ${secret("Authorization: x")} http://localhost/`.text();
  const info: SandboxInfo = await sandbox.info();
  await sandbox.detachVolume(volume.id, { force: true });
  try {
    await sandbox.sh`false`;
  } catch (e) {
    if (e instanceof CommandError) console.log(e.exitCode, e.signal, e.oom, e.stderr);
    if (e instanceof AtollError) console.log(e.code.toLowerCase(), e.details);
  }
  const client = new Client({ url: "http://127.0.0.1:7420", token: "t" });
  const volumes: Volume[] = await client.listVolumes();
  await Sandbox.deleteVolume(volume.id);
  console.log(lines, text, info.state, volumes.length);
  // @ts-expect-error sizeGb is a number of GiB
  await Sandbox.createVolume({ name: "x", sizeGb: "5" });
}
