/**
 * Process output throughput: `head -c N /dev/zero` run through `sh` in a sandbox, its stdout
 * piped to this program and read (and counted) as fast as it comes: the whole path init → control
 * channel → daemon → session WebSocket → SDK, with its flow control (credit windows, acks).
 */

/** MB/s of `rounds` runs moving `mib` MiB each (fresh sandbox per measurement set). */
export async function outputThroughput(client, mib = 1024, rounds = 3) {
  const sandbox = await client.createSandbox({ timeout: "10m" });
  const runs = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      const child = await sandbox.spawn("/bin/sh", { args: ["-c", `head -c ${mib * 1024 * 1024} /dev/zero`], stdout: "piped", stderr: "null" });
      let bytes = 0;
      for await (const chunk of child.stdout) bytes += chunk.byteLength;
      const status = await child.status;
      const seconds = (performance.now() - t0) / 1000;
      if (bytes !== mib * 1024 * 1024 || !status.success) throw new Error(`output bench: got ${bytes} bytes, status ${JSON.stringify(status)}`);
      runs.push(bytes / 1e6 / seconds);
    }
  } finally {
    await sandbox.kill();
  }
  return runs;
}
