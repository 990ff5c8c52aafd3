/**
 * Deno Sandbox 0.13.2's API style, with only the import changed, must compile against the SDK;
 * where @deno/sandbox's own types describe an option or a result, they are checked against ours.
 */
import type { SandboxOptions as DenoSandboxOptions, VolumeInit as DenoVolumeInit } from "@deno/sandbox";
import { Client, KillController, Sandbox, SandboxCommandError } from "atoll";

type Supported = "region" | "env" | "timeout" | "memory" | "labels" | "volumes" | "allowNet" | "secrets" | "port";

export async function denoStyle(options: Pick<DenoSandboxOptions, Supported>, init: DenoVolumeInit): Promise<void> {
  // Deno's own option objects are accepted as they are typed by @deno/sandbox.
  await using fromDenoTypes = await Sandbox.create(options);
  const client = new Client();
  const volume = await client.volumes.create(init);
  const slug: string = volume.slug;
  const capacity: number = volume.capacity;
  await using sandbox = await Sandbox.create({ region: "ord", volumes: { "/data/cache": slug } });
  const out: string = await sandbox.sh`echo "hello world"`.text();
  const data = await sandbox.sh`echo '{"key": "value"}'`.json<{ key: string }>();
  const result = await sandbox.sh`echo "hello"`.stdout("piped").result();
  const ok: boolean = result.status.success;
  const code: number = result.status.code;
  const stdoutText: string = result.stdoutText;
  const controller = new KillController();
  const running = sandbox.sh`sleep 10`.signal(controller.signal).text();
  controller.kill("SIGTERM");
  try {
    await running;
  } catch (e) {
    if (e instanceof SandboxCommandError) {
      const exit: number = e.code;
      console.log(exit, e.message);
    }
  }
  const child = await sandbox.spawn("echo", { args: ["hi"], stdout: "piped" });
  const output = await child.output();
  const childText: string | null = output.stdoutText;
  const stopAt: Date = await sandbox.extendTimeout("10m");
  await using again = await Sandbox.connect({ id: sandbox.id });
  const { items } = await client.volumes.list();
  const maybe = await client.volumes.get("my-cache");
  const metas = await client.sandboxes.list({ labels: { a: "b" } });
  const created: Date | undefined = metas[0]?.createdAt;
  await client.volumes.delete(volume.id);
  console.log(fromDenoTypes.id, capacity, out, data.key, ok, code, stdoutText, childText, stopAt, again.id, items.length, maybe?.id, created);
  // @ts-expect-error Deno's slug-based volumes are strings, not objects
  await Sandbox.create({ volumes: { "/data": { id: "x" } } });
}
