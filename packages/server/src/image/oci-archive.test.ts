import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { AtollError } from "atoll/contract";
import {
  compress,
  type FixtureEntry,
  type FixtureImage,
  layerTar,
  ociLayoutMembers,
  ociMembersFromBlobs,
  outerTar,
  sha256,
  writeDockerArchive,
  writeOciArchive,
} from "../testing/oci-fixture.js";
import { type UnpackOptions, unpackOciArchive } from "./oci-archive.js";

/** A private parent (0700), an archive path in it, the target, and a neighbour the archive must not touch. */
function workspace(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), "atoll-oci-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const outside = join(dir, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "victim"), "original");
  return { dir, archive: join(dir, "image.tar"), target: join(dir, "rootfs"), outside };
}

const OPTS: UnpackOptions = { maxBytes: 64 * 2 ** 20, ownership: false, platform: { os: "linux", architecture: "amd64" } };

function assertOutsideUntouched(outside: string): void {
  assert.deepEqual(readdirSync(outside), ["victim"]);
  assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
}

/** Unpacking fails with `code` and a message matching `pattern`; the target is gone again. */
async function assertRefused(ws: ReturnType<typeof workspace>, pattern: RegExp, code = "INVALID_ARGUMENT", opts: UnpackOptions = OPTS): Promise<void> {
  await assert.rejects(unpackOciArchive(ws.archive, ws.target, opts), (e: unknown) => {
    assert.ok(e instanceof AtollError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
  assert.equal(existsSync(ws.target), false, "the target is removed on failure");
  assertOutsideUntouched(ws.outside);
}

const BASE: FixtureEntry[] = [
  { name: "bin/", type: "directory" },
  { name: "bin/sh", content: "#!shell", mode: 0o755 },
  { name: "etc/", type: "directory" },
  { name: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
  { name: "etc/hostname", content: "img" },
  { name: "lib/", type: "directory", mode: 0o750 },
  { name: "lib/libc.so", content: "libc" },
  { name: "lib/libc.so.6", type: "link", linkname: "lib/libc.so" },
  { name: "usr/bin/env", content: "env", mode: 0o4755 },
  { name: "sh", type: "symlink", linkname: "/bin/sh" },
];

for (const compression of ["gzip", "zstd", "none"] as const) {
  test(`an OCI layout with ${compression} layers unpacks to the tree its entries describe`, async (t) => {
    const ws = workspace(t);
    await writeOciArchive(ws.archive, {
      layers: [BASE],
      compression,
      config: { Env: ["PATH=/bin", "A=1=2"], WorkingDir: "/srv", User: "app:app", Entrypoint: ["/bin/sh"], Cmd: ["-c", "true"] },
    });
    const result = await unpackOciArchive(ws.archive, ws.target, OPTS);
    assert.equal(readFileSync(join(ws.target, "etc/passwd"), "utf8"), "root:x:0:0::/root:/bin/sh\n");
    assert.equal(lstatSync(join(ws.target, "bin/sh")).mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(ws.target, "usr/bin/env")).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(ws.target, "lib")).mode & 0o7777, 0o750);
    assert.equal(lstatSync(join(ws.target, "usr")).isDirectory(), true, "implicit parents are made");
    assert.equal(lstatSync(join(ws.target, "lib/libc.so.6")).ino, lstatSync(join(ws.target, "lib/libc.so")).ino, "hard link");
    assert.equal(readlinkSync(join(ws.target, "sh")), "/bin/sh");
    assert.deepEqual(result.config.env, { PATH: "/bin", A: "1=2" });
    assert.equal(result.config.workingDir, "/srv");
    assert.equal(result.config.user, "app:app");
    assert.deepEqual(result.config.entrypoint, ["/bin/sh"]);
    assert.deepEqual(result.config.cmd, ["-c", "true"]);
    assert.equal(result.layers.length, 1);
    assert.equal(result.layers[0]?.compression, compression);
    assert.equal(result.layers[0]?.diffId, result.config.diffIds[0]);
    assert.equal(result.bytesWritten, "#!shell".length + 26 + 3 + 4 + 3);
  });
}

test("docker save output (manifest.json, <id>/layer.tar) unpacks, layers in order", async (t) => {
  const ws = workspace(t);
  await writeDockerArchive(ws.archive, { layers: [BASE, [{ name: "etc/hostname", content: "second" }]] });
  const result = await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.equal(readFileSync(join(ws.target, "etc/hostname"), "utf8"), "second");
  assert.equal(result.layers.length, 2);
  assert.deepEqual(result.config.cmd, ["/bin/sh"]);
});

test("newer docker save: layer.tar symlinked to its blob, found through the link", async (t) => {
  const ws = workspace(t);
  const members = await ociLayoutMembers({ layers: [BASE], compression: "none" });
  const config = members.find((m) => m.data?.toString().includes('"rootfs"'));
  const layer = members.find((m) => m.name.startsWith("blobs/") && m !== config && m.data?.toString().includes("etc/passwd"));
  assert.ok(config && layer);
  const docker = [
    { name: "abc/layer.tar", linkname: `../${layer.name}` },
    { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: config.name, RepoTags: ["x:1"], Layers: ["abc/layer.tar"] }])) },
  ];
  writeFileSync(ws.archive, await outerTar([...members.filter((m) => m.name !== "oci-layout"), ...docker]));
  await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.equal(readFileSync(join(ws.target, "etc/hostname"), "utf8"), "img");
});

test("whiteouts remove lower files; an opaque directory keeps only this layer's entries", async (t) => {
  const ws = workspace(t);
  const lower: FixtureEntry[] = [
    { name: "a", content: "a" },
    { name: "d/", type: "directory" },
    { name: "d/old", content: "old" },
    { name: "d/sub/deep", content: "deep" },
    { name: "keep/x", content: "x" },
    { name: "gone/y", content: "y" },
  ];
  const upper: FixtureEntry[] = [
    { name: "d/new-before", content: "n" },
    { name: "d/.wh..wh..opq", content: "" },
    { name: "d/new-after", content: "n" },
    { name: ".wh.a", content: "" },
    { name: ".wh.gone", content: "" },
    { name: "same", content: "s" },
    { name: ".wh.same", content: "" },
    { name: ".wh.never-existed", content: "" },
  ];
  await writeOciArchive(ws.archive, { layers: [lower, upper] });
  await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.deepEqual(readdirSync(ws.target).sort(), ["d", "keep", "same"]);
  assert.deepEqual(readdirSync(join(ws.target, "d")).sort(), ["new-after", "new-before"]);
  assert.equal(readFileSync(join(ws.target, "same"), "utf8"), "s", "a whiteout does not hide its own layer");
});

test("later layers replace: a file by a directory, a directory by a symlink; a hard-linked sibling keeps its content", async (t) => {
  const ws = workspace(t);
  const lower: FixtureEntry[] = [
    { name: "f", content: "file" },
    { name: "dir/inner", content: "i" },
    { name: "a", content: "shared" },
    { name: "b", type: "link", linkname: "a" },
  ];
  const upper: FixtureEntry[] = [
    { name: "f/", type: "directory" },
    { name: "dir", type: "symlink", linkname: "elsewhere" },
    { name: "a", content: "rewritten" },
  ];
  await writeOciArchive(ws.archive, { layers: [lower, upper] });
  await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.equal(lstatSync(join(ws.target, "f")).isDirectory(), true);
  assert.equal(readlinkSync(join(ws.target, "dir")), "elsewhere");
  assert.equal(readFileSync(join(ws.target, "a"), "utf8"), "rewritten");
  assert.equal(readFileSync(join(ws.target, "b"), "utf8"), "shared");
});

test("a multi-platform index: the wanted platform is picked, nested indexes followed; none fitting is a clear error", async (t) => {
  const ws = workspace(t);
  const platforms = [
    { os: "linux", architecture: "arm64" },
    { os: "linux", architecture: "amd64" },
  ];
  await writeOciArchive(ws.archive, { layers: [BASE] }, { platforms, nested: true, ref: "app:1" });
  await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.equal(readFileSync(join(ws.target, "etc/hostname"), "utf8"), "img");
  rmSync(ws.target, { recursive: true });
  await writeOciArchive(ws.archive, { layers: [BASE], architecture: "arm64" }, { platforms: [{ os: "linux", architecture: "arm64" }] });
  await assertRefused(ws, /no image for linux\/amd64 in the archive \(it has linux\/arm64\)/);
});

test("a config for another architecture is refused even when the index names no platform", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [BASE], architecture: "arm64" });
  await assertRefused(ws, /the image is for linux\/arm64, not linux\/amd64/);
});

test("several images need a ref; the ref picks one", async (t) => {
  const ws = workspace(t);
  const a = await ociLayoutMembers({ layers: [BASE] }, { ref: "a" });
  const b = await ociLayoutMembers({ layers: [[{ name: "b", content: "b" }]] }, { ref: "b" });
  const index = (members: typeof a) => JSON.parse(members.find((m) => m.name === "index.json")?.data?.toString() ?? "{}").manifests;
  const merged = [
    ...a.filter((m) => m.name !== "index.json"),
    ...b.filter((m) => m.name !== "index.json" && m.name !== "oci-layout"),
    { name: "index.json", data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [...index(a), ...index(b)] })) },
  ];
  writeFileSync(ws.archive, await outerTar(merged));
  await assertRefused(ws, /holds 2 images \(a, b\): name the one/);
  await unpackOciArchive(ws.archive, ws.target, { ...OPTS, ref: "b" });
  assert.deepEqual(readdirSync(ws.target), ["b"]);
});

// Hostile archives: every one is refused, the target removed, the neighbour untouched.

const hostile: [string, FixtureEntry[][], RegExp][] = [
  ["a name with ..", [[{ name: "../outside/victim", content: "pwned" }]], /contains "\.\."/],
  ["an absolute name", [[{ name: "/tmp/x", content: "pwned" }]], /is an absolute path/],
  ["a name past PATH_MAX", [[{ name: `${"d/".repeat(2100)}f`, content: "x" }]], /longer than 4096 bytes/],
  ["a component past NAME_MAX", [[{ name: "x".repeat(256), content: "x" }]], /longer than 255 bytes/],
  [
    "a write through a symlink planted in the same layer",
    [
      [
        { name: "etc", type: "symlink", linkname: "../outside" },
        { name: "etc/victim", content: "pwned" },
      ],
    ],
    /goes through the symlink "etc"/,
  ],
  [
    "a write through a symlink planted by a lower layer",
    [[{ name: "etc", type: "symlink", linkname: "../outside" }], [{ name: "etc/new", content: "pwned" }]],
    /goes through the symlink "etc"/,
  ],
  [
    "a directory entry through a symlink",
    [
      [
        { name: "etc", type: "symlink", linkname: "../outside" },
        { name: "etc/x/", type: "directory" },
      ],
    ],
    /goes through the symlink "etc"/,
  ],
  ["a hard link to ../", [[{ name: "l", type: "link", linkname: "../outside/victim" }]], /contains "\.\."/],
  ["a hard link to an absolute path", [[{ name: "l", type: "link", linkname: "/etc/passwd" }]], /is an absolute path/],
  [
    "a hard link through a symlink",
    [
      [
        { name: "s", type: "symlink", linkname: "../outside" },
        { name: "l", type: "link", linkname: "s/victim" },
      ],
    ],
    /goes through the symlink "s"/,
  ],
  [
    "a hard link replacing the directory that holds its target",
    [
      [
        { name: "s/victim", content: "x" },
        { name: "s", type: "link", linkname: "s/victim" },
      ],
    ],
    /points at "s\/victim", which it replaces/,
  ],
  [
    "a hard link to a directory",
    [
      [
        { name: "d/", type: "directory" },
        { name: "l", type: "link", linkname: "d" },
      ],
    ],
    /points at the directory/,
  ],
  [
    "a whiteout through a symlink",
    [[{ name: "s", type: "symlink", linkname: "../outside" }], [{ name: "s/.wh.victim", content: "" }]],
    /goes through the symlink "s"/,
  ],
  [
    "an opaque marker through a symlink",
    [[{ name: "s", type: "symlink", linkname: "../outside" }], [{ name: "s/.wh..wh..opq", content: "" }]],
    /goes through the symlink "s"/,
  ],
  ["a whiteout of ..", [[{ name: "d/.wh..", content: "" }]], /names no file/],
  ["an owner past the sandbox id range", [[{ name: "f", content: "x", uid: 70000 }]], /uid 70000; sandboxes map ids 0..65535/],
];

for (const [what, layers, pattern] of hostile) {
  test(`hostile archive refused: ${what}`, async (t) => {
    const ws = workspace(t);
    await writeOciArchive(ws.archive, { layers });
    await assertRefused(ws, pattern);
  });
}

/** A one-entry layer whose header bytes `at` are replaced by `bytes` (checksum fixed up). */
async function patchedLayer(entry: FixtureEntry, at: number, bytes: Buffer): Promise<Buffer> {
  const tar = await layerTar([entry]);
  bytes.copy(tar, at);
  tar.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i] as number;
  tar.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return tar;
}

test("hostile archive refused: a name that is not UTF-8", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [await patchedLayer({ name: "xAy", content: "x" }, 1, Buffer.from([0xff]))] });
  await assertRefused(ws, /is not valid UTF-8/);
});

test("hostile archive refused: an entry type the unpacker does not know (GNU sparse)", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [await patchedLayer({ name: "sparse", content: "x" }, 156, Buffer.from("S"))] });
  await assertRefused(ws, /has a type this unpacker does not know/);
});

test("hostile archive refused: a hard link to nothing", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [[{ name: "l", type: "link", linkname: "missing" }]] });
  await assertRefused(ws, /points at "missing", which does not exist/);
});

test("hostile archive refused: an outer member named with ..", async (t) => {
  const ws = workspace(t);
  writeFileSync(ws.archive, await outerTar([...(await ociLayoutMembers({ layers: [BASE] })), { name: "../outside/victim", data: Buffer.from("pwned") }]));
  await assertRefused(ws, /archive member "..\/outside\/victim" contains ".."/);
});

test("hostile archive refused: a zstd layer asking for a 1 GiB window", async (t) => {
  const ws = workspace(t);
  const tar = await layerTar(BASE);
  const blob = execFileSync("zstd", ["--long=30", "-c", "-q"], { input: tar });
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(tar)] } }));
  writeFileSync(ws.archive, await outerTar(ociMembersFromBlobs(config, [blob])));
  await assertRefused(ws, /a zstd layer is corrupt or needs more than 128MB to decode/);
});

test("device nodes and FIFOs are skipped and counted", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, {
    layers: [
      [
        { name: "dev/null", type: "character-device", mode: 0o666 },
        { name: "dev/sda", type: "block-device", mode: 0o660 },
        { name: "run/fifo", type: "fifo" },
        { name: "ok", content: "x" },
      ],
    ],
  });
  const result = await unpackOciArchive(ws.archive, ws.target, OPTS);
  assert.deepEqual(result.skipped, { devices: 2, fifos: 1, xattrs: 0 });
  assert.equal(existsSync(join(ws.target, "dev/null")), false);
  assert.equal(existsSync(join(ws.target, "run/fifo")), false);
});

test("content past maxBytes fails with PAYLOAD_TOO_LARGE", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [[{ name: "a", content: Buffer.alloc(600_000) }], [{ name: "b", content: Buffer.alloc(600_000) }]] });
  await assertRefused(ws, /larger than the 1000000 bytes allowed/, "PAYLOAD_TOO_LARGE", { ...OPTS, maxBytes: 1_000_000 });
});

test("a decompression bomb of empty tar blocks stops at the tar budget", async (t) => {
  const ws = workspace(t);
  // 200 MiB of zero blocks (about 200 KiB gzipped) with right digests: the budget must stop it.
  const zeros = Buffer.alloc(200 * 2 ** 20);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(zeros)] } }));
  writeFileSync(ws.archive, await outerTar(ociMembersFromBlobs(config, [gzipSync(zeros)])));
  await assertRefused(ws, /unpack to more than the 1000000 bytes allowed/, "PAYLOAD_TOO_LARGE", { ...OPTS, maxBytes: 1_000_000, maxEntries: 100 });
});

test("more entries than maxEntries are refused", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, content: "" }))] });
  await assertRefused(ws, /more than 10 entries/, "INVALID_ARGUMENT", { ...OPTS, maxEntries: 10 });
});

test("a layer that does not match its digest is refused", async (t) => {
  const ws = workspace(t);
  const members = await ociLayoutMembers({ layers: [BASE], compression: "none" });
  const tampered = members.map((m) =>
    m.data?.includes("root:x:0:0") ? { ...m, data: Buffer.from(m.data.toString("latin1").replace("root:x:0:0", "root:x:0:1"), "latin1") } : m,
  );
  writeFileSync(ws.archive, await outerTar(tampered));
  await assertRefused(ws, /layer 1 does not match its digest/);
});

test("docker save: a layer that does not match its diff_id is refused", async (t) => {
  const ws = workspace(t);
  const image: FixtureImage = { layers: [BASE] };
  await writeDockerArchive(ws.archive, image);
  const raw = readFileSync(ws.archive);
  const at = raw.indexOf("root:x:0:0");
  raw.write("ROOT", at);
  writeFileSync(ws.archive, raw);
  await assertRefused(ws, /layer 1 does not match its diff_id/);
});

test("a bad config is refused with what is wrong", async (t) => {
  const ws = workspace(t);
  for (const [config, pattern] of [
    [{ Env: ["NOEQUALS"] }, /Env entry "NOEQUALS" is not NAME=VALUE/],
    [{ WorkingDir: "relative" }, /WorkingDir "relative" is not an absolute path/],
    [{ User: "a b" }, /User "a b" is not name/],
    [{ Cmd: "not-a-list" }, /invalid at config.Cmd/],
  ] as const) {
    await writeOciArchive(ws.archive, { layers: [BASE], config });
    await assertRefused(ws, pattern);
  }
});

test("a compressed archive (docker save | gzip, | zstd) is decompressed next to the target, and that copy removed", async (t) => {
  const ws = workspace(t);
  const plain = await outerTar(await ociLayoutMembers({ layers: [BASE] }));
  for (const how of ["gzip", "zstd"] as const) {
    writeFileSync(ws.archive, compress(plain, how));
    await unpackOciArchive(ws.archive, ws.target, OPTS);
    assert.equal(readFileSync(join(ws.target, "etc/hostname"), "utf8"), "img");
    rmSync(ws.target, { recursive: true });
    assert.deepEqual(readdirSync(ws.dir).sort(), ["image.tar", "outside"], "no decompressed copy is left");
  }
  // A bomb: 200 MiB of zeros as the outer archive stops at the budget, and its copy goes too.
  writeFileSync(ws.archive, gzipSync(Buffer.alloc(200 * 2 ** 20)));
  await assertRefused(ws, /more than the 1000000 bytes allowed/, "PAYLOAD_TOO_LARGE", { ...OPTS, maxBytes: 1_000_000, maxEntries: 100 });
  assert.deepEqual(readdirSync(ws.dir).sort(), ["image.tar", "outside"]);
});

test("not an image archive, a broken tar: clear errors", async (t) => {
  const ws = workspace(t);
  writeFileSync(ws.archive, await outerTar([{ name: "hello", data: Buffer.from("x") }]));
  await assertRefused(ws, /neither an OCI image layout/);
  writeFileSync(ws.archive, Buffer.alloc(4096, 7));
  await assertRefused(ws, /not a readable tar archive/);
});

test("the target's parent must be private", async (t) => {
  const ws = workspace(t);
  await writeOciArchive(ws.archive, { layers: [BASE] });
  const open = join(ws.dir, "open");
  mkdirSync(open, { mode: 0o755 });
  await assert.rejects(unpackOciArchive(ws.archive, join(open, "rootfs"), OPTS), /must be private to the daemon/);
  await assert.rejects(unpackOciArchive(ws.archive, ws.outside, OPTS), /exists already/);
  assertOutsideUntouched(ws.outside);
});
