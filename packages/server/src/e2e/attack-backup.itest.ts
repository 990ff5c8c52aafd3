/**
 * Hostile volume archives (docs/security.md, "Volume archives"): an archive with a valid
 * envelope and checksum whose tar tries `../` escapes, absolute paths, a symlink followed by a
 * file written through it, a device node, a hard link to a host file, a setuid-root file and an
 * owner outside the sandboxes' id range. Each either fails the import (and leaves nothing) or is
 * neutralised, proven on the host: the probed host path is untouched. Each probe is shown to
 * work: the same archive extracted by plain GNU tar as host root (with -P) does touch the host.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { archiveChunks } from "../backup/archive-envelope.js";
import { type AttackRow, broken, reportAttacks } from "./attack-table.js";
import { useDaemon } from "./e2e-helpers.js";

const ctx = useDaemon();
const probe = mkdtempSync("/var/tmp/atoll-backup-probe-");
process.on("exit", () => rmSync(probe, { recursive: true, force: true }));

/** A tar made by Python's tarfile from entries given as JSON, compressed with zstd. */
const TAR_PY = `
import io, json, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
    for e in json.loads(sys.argv[2]):
        ti = tarfile.TarInfo(e["name"])
        ti.type = {"file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE}[e.get("type", "file")]
        ti.linkname = e.get("link", "")
        ti.mode = e.get("mode", 0o644)
        ti.uid = ti.gid = e.get("uid", 0)
        ti.devmajor, ti.devminor = e.get("dev", [0, 0])
        data = e.get("data", "").encode()
        ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
        t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
`;

interface Entry {
  name: string;
  type?: "file" | "symlink" | "hardlink" | "char";
  link?: string;
  mode?: number;
  uid?: number;
  dev?: [number, number];
  data?: string;
}

let serial = 0;
/** The tar+zstd payload of `entries`, written to a file (for the unconfined probe too). */
function payloadFile(entries: Entry[]): string {
  const tar = path.join(probe, `archive-${++serial}.tar`);
  execFileSync("python3", ["-c", TAR_PY, tar, JSON.stringify(entries)]);
  execFileSync("zstd", ["-q", "-f", "--rm", tar]);
  return `${tar}.zst`;
}

/** A whole volume archive (valid envelope and checksum) around the payload file. */
async function archiveOf(payload: string): Promise<Uint8Array> {
  const header = {
    version: 1 as const,
    payload: "tar+zstd" as const,
    volume: { name: "hostile", sizeGb: 0.25, capacityBytes: 2 ** 28, usedBytes: 0, usedInodes: 0 },
    exportedAt: new Date().toISOString(),
  };
  const parts: Buffer[] = [];
  const bytes = (async function* () {
    yield readFileSync(payload);
  })();
  for await (const chunk of archiveChunks(header, bytes)) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

/** Extracts the payload with host GNU tar as root, unconfined, names taken literally (-P), in `dir`. */
function unconfined(payload: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("tar", ["-x", "-P", "--zstd", "--numeric-owner", "--same-owner", "-f", payload, "-C", dir], { stdio: "ignore" });
  } catch {
    // tar complains about what it could not do; what it did is what the probe looks at
  }
}

/** Lists a volume's files as host root sees them in its image (owner ids included), read-only. */
function hostView(volumeId: string): Map<string, { uid: number; mode: number }> {
  const image = path.join(ctx.daemon.stateDir, "run", "cow-pool", "volumes", `${volumeId}.img`);
  const at = mkdtempSync("/var/tmp/atoll-backup-look-");
  execFileSync("mount", ["-t", "ext4", "-o", "loop,ro,noload", image, at]);
  try {
    const found = new Map<string, { uid: number; mode: number }>();
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        const st = statSync(p, { throwIfNoEntry: false }) ?? { uid: -1, mode: 0 };
        found.set(path.relative(at, p), { uid: st.uid, mode: st.mode });
        if (statSync(p, { throwIfNoEntry: false })?.isDirectory() && name !== "lost+found") walk(p);
      }
    };
    walk(at);
    return found;
  } finally {
    execFileSync("umount", [at]);
    rmSync(at, { recursive: true, force: true });
  }
}

interface Attempt {
  outcome: string;
  volumeId?: string;
}

let names = 0;
const imported: string[] = [];
async function importHostile(payload: string): Promise<Attempt> {
  try {
    const v = await ctx.client.importVolume(await archiveOf(payload), { name: `hostile-${++names}`, sizeGb: 0.25 });
    imported.push(v.id);
    return { outcome: "imported", volumeId: v.id };
  } catch (err) {
    return { outcome: (err as { code?: string }).code ?? String(err) };
  }
}

test("hostile archives cannot reach the host: escapes, absolute paths, symlinks, devices, hard links, foreign owners", async () => {
  const rows: AttackRow[] = [];
  const volumesDir = path.join(ctx.daemon.stateDir, "run", "volumes");
  const victim = path.join(probe, "victim");
  writeFileSync(victim, "host data\n");
  const uidBase = (JSON.parse(readFileSync(path.join(ctx.daemon.stateDir, "uid-base"), "utf8")) as { base: number }).base;
  const row = (attack: string, expected: string, observed: string, held: boolean, probeWorks: boolean) => {
    assert.ok(probeWorks, `${attack}: the probe must work without the confinement`);
    rows.push({ area: "volume archive", attack, as: "tenant", expected, observed, held });
  };

  {
    // "../" from the volume's root: its host mount's parent, <state>/run/volumes.
    const payload = payloadFile([{ name: "../escape-dotdot", data: "x" }]);
    const got = await importHostile(payload);
    unconfined(payload, path.join(probe, "dotdot", "inner"));
    row(
      "../escape",
      "no file beside the volume's mount",
      `${got.outcome}; beside it: ${existsSync(path.join(volumesDir, "escape-dotdot"))}`,
      !existsSync(path.join(volumesDir, "escape-dotdot")),
      existsSync(path.join(probe, "dotdot", "escape-dotdot")),
    );
  }
  {
    const target = path.join(probe, "absolute");
    const payload = payloadFile([{ name: target, data: "x" }]);
    const got = await importHostile(payload);
    const touched = existsSync(target);
    unconfined(payload, path.join(probe, "abs-scratch"));
    row("absolute path", "host path untouched", `${got.outcome}; host path written: ${touched}`, !touched, existsSync(target));
  }
  {
    const payload = payloadFile([
      { name: "up", type: "symlink", link: "/" },
      { name: `up${probe}/through-root`, data: "x" },
      { name: "here", type: "symlink", link: probe },
      { name: "here/through-dir", data: "x" },
    ]);
    const got = await importHostile(payload);
    const touched = existsSync(path.join(probe, "through-root")) || existsSync(path.join(probe, "through-dir"));
    unconfined(payload, path.join(probe, "link-scratch"));
    row(
      "symlink to / (and to a host dir), then a file through it",
      "host paths untouched",
      `${got.outcome}; written through: ${touched}`,
      !touched,
      existsSync(path.join(probe, "through-root")) && existsSync(path.join(probe, "through-dir")),
    );
  }
  {
    const payload = payloadFile([{ name: "nul", type: "char", dev: [1, 3], mode: 0o666 }]);
    const got = await importHostile(payload);
    const made = got.volumeId !== undefined && [...hostView(got.volumeId).keys()].includes("nul");
    unconfined(payload, path.join(probe, "dev-scratch"));
    row(
      "character device node (1:3)",
      "import refused, no device node",
      `${got.outcome}; device made: ${made}`,
      got.outcome === "ARCHIVE_INVALID" && !made,
      statSync(path.join(probe, "dev-scratch", "nul")).isCharacterDevice(),
    );
  }
  {
    const payload = payloadFile([{ name: "stolen", type: "hardlink", link: victim }]);
    const got = await importHostile(payload);
    const links = statSync(victim).nlink;
    unconfined(payload, path.join(probe, "hl-scratch"));
    row(
      "hard link to a host file",
      "host file keeps one link",
      `${got.outcome}; links: ${links}`,
      links === 1 && got.outcome !== "imported",
      statSync(victim).nlink === 2,
    );
  }
  {
    const payload = payloadFile([{ name: "rootshell", mode: 0o4755, uid: 0, data: "#!/bin/sh\n" }]);
    const got = await importHostile(payload);
    const seen = got.volumeId ? hostView(got.volumeId).get("rootshell") : undefined;
    unconfined(payload, path.join(probe, "suid-scratch"));
    const plain = statSync(path.join(probe, "suid-scratch", "rootshell"));
    row(
      "setuid file owned by root",
      "owned by sandbox root (host uid base), not host root",
      `${got.outcome}; host owner ${seen?.uid ?? "-"}`,
      seen !== undefined && seen.uid === uidBase && seen.uid !== 0,
      plain.uid === 0 && (plain.mode & 0o4000) !== 0,
    );
  }
  {
    const payload = payloadFile([{ name: "foreign", uid: 3_000_000_000, data: "x" }]);
    const got = await importHostile(payload);
    unconfined(payload, path.join(probe, "foreign-scratch"));
    row(
      "owner outside the sandboxes' ids (uid 3,000,000,000)",
      "import refused",
      got.outcome,
      got.outcome === "ARCHIVE_INVALID",
      statSync(path.join(probe, "foreign-scratch", "foreign")).uid === 3_000_000_000,
    );
  }

  reportAttacks("Hostile volume archives", rows);
  assert.deepEqual(broken(rows), []);
  // A refused import leaves no volume behind; the neutralised ones are ordinary volumes.
  const listed = (await ctx.client.listVolumes()).map((v) => v.id).sort();
  assert.deepEqual(listed, imported.sort());
  assert.ok(imported.length >= 1 && imported.length < rows.length, `${imported.length} of ${rows.length} archives were imported (neutralised)`);
});
