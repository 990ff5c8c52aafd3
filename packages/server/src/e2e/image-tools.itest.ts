/**
 * The default image covers what agent code expects (issue 11, item 6): a Python venv with pip
 * (offline), the sqlite3 CLI and the small tools of docs/images.md; and SQLite on a volume shared
 * read-write and read-only behaves as docs/volumes.md says.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();

test("python3 -m venv with pip, sqlite3, jq, xz, unzip, git and curl work in a sandbox without network", async () => {
  await using sb = await ctx.client.createSandbox(); // the test daemon has no uplink: nothing can be downloaded
  const pip = (await sb.sh`python3 -m venv /tmp/v && /tmp/v/bin/pip --version`.text()).trimEnd();
  assert.match(pip, /^pip \d+\.\d+.* from \/tmp\/v\/lib\/python3\.\d+\/site-packages\/pip /);
  assert.match((await sb.sh`/tmp/v/bin/python -c 'import sys; print(sys.prefix)'`.text()).trimEnd(), /^\/tmp\/v$/);
  assert.match((await sb.sh`sqlite3 --version`.text()).trimEnd(), /^3\.\d+\.\d+ /);
  assert.equal((await sb.sh`sqlite3 :memory: 'SELECT 6 * 7'`.text()).trimEnd(), "42");
  assert.equal((await sb.sh`echo '{"a":[1,2]}' | jq -c .a`.text()).trimEnd(), "[1,2]");
  assert.equal((await sb.sh`cd /tmp && echo hi > f && tar -cJf f.tar.xz f && rm f && tar -xJf f.tar.xz && cat f`.text()).trimEnd(), "hi");
  assert.match((await sb.sh`unzip -v | head -1`.text()).trimEnd(), /^UnZip \d/);
  assert.match((await sb.sh`git --version && curl --version | head -1`.text()).trimEnd(), /^git version .*\ncurl \d/);
  // pip outside a venv: Debian's PEP 668 answer, which says what to do (no network needed to get it).
  const global = await sb.sh`pip install --no-index nothing-at-all`.stderr("piped").noThrow();
  assert.notEqual(global.status.code, 0);
  assert.match(global.stderrText, /externally-managed-environment/);
});

test("SQLite on a shared volume: WAL needs a writable mount, ?immutable=1 and rollback journals read from a read-only one", async () => {
  const volume = await ctx.client.createVolume({ name: "sqlite-share", sizeGb: 0.125 });
  {
    await using writer = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    await using other = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data" }] });
    await using reader = await ctx.client.createSandbox({ volumes: [{ id: volume.id, mountPath: "/data", accessMode: "ro" }] });
    await writer.sh`sqlite3 /data/wal.db 'PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (42);' >/dev/null`;
    await writer.sh`sqlite3 /data/rollback.db 'CREATE TABLE t(x); INSERT INTO t VALUES (7);'`;
    assert.equal((await writer.sh`ls /data | grep -c -- '-wal\|-shm'`.noThrow().text()).trimEnd(), "0", "the last connection removed -wal and -shm");
    assert.equal((await writer.sh`sqlite3 /data/wal.db 'SELECT x FROM t'`.text()).trimEnd(), "42", "read-write: WAL opens");

    // Read-only: a WAL database cannot be opened (SQLite would have to create -shm next to it).
    const wal = await reader.sh`sqlite3 /data/wal.db 'SELECT x FROM t'`.stderr("piped").noThrow();
    assert.notEqual(wal.status.code, 0);
    assert.match(wal.stderrText, /unable to open database file/);
    // ...unless it is opened as immutable, or the database uses a rollback journal.
    assert.equal((await reader.sh`sqlite3 'file:/data/wal.db?immutable=1' 'SELECT x FROM t'`.text()).trimEnd(), "42");
    assert.equal((await reader.sh`sqlite3 /data/rollback.db 'SELECT x FROM t'`.text()).trimEnd(), "7");
    // A rollback-journal database keeps working while another sandbox writes it (POSIX locks are shared).
    await writer.sh`sqlite3 /data/rollback.db 'INSERT INTO t VALUES (8);'`;
    assert.equal((await reader.sh`sqlite3 /data/rollback.db 'SELECT group_concat(x) FROM t'`.text()).trimEnd(), "7,8");

    // While a writer holds the WAL database open, -wal and -shm exist: another read-write sandbox
    // shares them (locks and the mmap'ed index), a read-only one opens it and sees every commit;
    // immutable=1 reads only the main file and misses what is still in the WAL.
    await writer.sh`({ echo 'INSERT INTO t VALUES (43);'; sleep 300; } | sqlite3 /data/wal.db) </dev/null >/dev/null 2>&1 &`;
    await writer.sh`for i in $(seq 100); do [ -e /data/wal.db-shm ] && [ "$(sqlite3 /data/wal.db 'SELECT count(*) FROM t')" = 2 ] && exit 0; sleep 0.1; done; exit 1`;
    assert.equal((await other.sh`sqlite3 /data/wal.db 'INSERT INTO t VALUES (44); SELECT group_concat(x) FROM t'`.text()).trimEnd(), "42,43,44");
    assert.equal((await reader.sh`sqlite3 'file:/data/wal.db?mode=ro' 'SELECT group_concat(x) FROM t'`.text()).trimEnd(), "42,43,44");
    assert.equal((await reader.sh`sqlite3 'file:/data/wal.db?immutable=1' 'SELECT group_concat(x) FROM t'`.text()).trimEnd(), "42");
  }
  await ctx.client.deleteVolume(volume.id);
});
