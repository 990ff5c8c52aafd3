/** 20 sandboxes writing to one shared volume at once: no lost writes, throughput. */
export async function sharedWriters({ client, writers = 20, records = 2000 }) {
  const volume = await client.createVolume({ name: `load-shared-${Date.now()}`, sizeGb: 1 });
  const sbs = [];
  try {
    for (let i = 0; i < writers; i++) sbs.push(await client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/shared" }] }));
    // Each writer appends `records` lines of 100 bytes to one shared log (O_APPEND) and to its own file.
    const script = `i=0; line=$(printf '%090d' 0); while [ $i -lt ${records} ]; do echo "W$ID $i $line" >> /shared/log; echo "$i" >> /shared/own-$ID; i=$((i+1)); done; sync`;
    const t0 = performance.now();
    await Promise.all(sbs.map((sb, i) => sb.sh`sh -c ${script}`.env({ ID: String(i) })));
    const seconds = (performance.now() - t0) / 1000;
    const lines = Number(await sbs[0].sh`wc -l < /shared/log`.text());
    const perWriter = await sbs[0].sh`sh -c ${`for f in /shared/own-*; do wc -l < $f; done | sort -u`}`.lines();
    const torn = Number(await sbs[0].sh`sh -c ${"grep -vc '^W[0-9]* [0-9]* 0*$' /shared/log || true"}`.text());
    const expected = writers * records;
    const res = {
      writers,
      lines,
      expected,
      lost: expected - lines,
      torn,
      perWriter,
      mbPerSecond: (lines * 100) / 1e6 / seconds,
      appendsPerSecond: (2 * lines) / seconds,
    };
    console.log(
      `\n${writers} sandboxes appending to one volume: ${lines}/${expected} lines (${res.lost} lost, ${torn} torn), every own file has ${perWriter.join(",")} lines; ` +
        `${res.appendsPerSecond.toFixed(0)} appends/s, ${res.mbPerSecond.toFixed(2)} MB/s of log`,
    );
    return res;
  } finally {
    for (const sb of sbs) await sb.kill();
    await client.deleteVolume(volume.id);
  }
}
