import assert from "node:assert/strict";
import { test } from "node:test";
import { BootstrapOutputParser, bootstrapArgs, type BuildProgress } from "./bootstrap-runner.js";
import { defaultRecipe } from "./image-recipe.js";

function parse(lines: string[]): BuildProgress[] {
  const events: BuildProgress[] = [];
  const parser = new BootstrapOutputParser((p) => events.push(p));
  for (const l of lines) parser.line(l);
  return events;
}

test("mmdebstrap output becomes phases with package counts", () => {
  const events = parse([
    "I: running apt-get update...",
    "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
    "I: downloading packages with apt...",
    "0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.",
    "Get:1 http://deb.debian.org/debian bookworm/main amd64 gcc-12-base amd64 12.2.0-14+deb12u1 [37.6 kB]",
    "Get:2 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9+deb12u14 [2758 kB]",
    "I: installing essential packages...",
    "Setting up libc6:amd64 (2.36-9+deb12u14) ...",
    "I: installing remaining packages inside the chroot...",
    "0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
    "Get:1 http://deb.debian.org/debian bookworm/main amd64 git amd64 1:2.39.5-0+deb12u3 [7264 kB]",
    "Setting up git (1:2.39.5-0+deb12u3) ...",
    "I: success in 24.3830 seconds",
  ]);
  assert.deepEqual(events, [
    { phase: "running apt-get update" },
    { phase: "downloading packages with apt" },
    { phase: "downloading packages with apt", current: 0, total: 3 },
    { phase: "downloading packages with apt", current: 1, total: 3, detail: "gcc-12-base" },
    { phase: "downloading packages with apt", current: 2, total: 3, detail: "libc6" },
    { phase: "installing essential packages" },
    { phase: "installing essential packages", current: 1, total: 3, detail: "libc6" },
    { phase: "installing remaining packages inside the chroot" },
    { phase: "installing remaining packages inside the chroot", current: 0, total: 2 },
    { phase: "installing remaining packages inside the chroot", current: 1, total: 2, detail: "git" },
    { phase: "configuring packages", current: 1, total: 2, detail: "git" },
  ]);
});

test("debootstrap per-package lines count within a phase", () => {
  const events = parse([
    "I: Resolving dependencies of required packages...",
    "I: Retrieving libacl1 2.3.1-3",
    "I: Retrieving libc6 2.36-9",
    "I: Unpacking the base system...",
  ]);
  assert.deepEqual(events, [
    { phase: "Resolving dependencies of required packages" },
    { phase: "retrieving", current: 1, detail: "libacl1" },
    { phase: "retrieving", current: 2, detail: "libc6" },
    { phase: "Unpacking the base system" },
  ]);
});

test("bootstrapArgs passes the recipe to mmdebstrap and debootstrap", () => {
  const recipe = defaultRecipe({
    sources: ["deb http://m.example/debian bookworm main", "deb http://m.example/debian-security bookworm-security main"],
  });
  const mm = bootstrapArgs("mmdebstrap", recipe, "/x/rootfs");
  assert.ok(mm.includes("--variant=minbase"));
  assert.ok(mm.includes(`--include=${recipe.content.packages.join(",")}`));
  assert.ok(mm.includes("--dpkgopt=path-exclude=/usr/share/man/*"));
  assert.deepEqual(mm.slice(-4), ["bookworm", "/x/rootfs", ...recipe.sources]);
  const deb = bootstrapArgs("debootstrap", recipe, "/x/rootfs");
  assert.deepEqual(deb.slice(-3), ["bookworm", "/x/rootfs", "http://m.example/debian"]);
  const noMirror = bootstrapArgs("debootstrap", defaultRecipe({ sources: [] }), "/x/rootfs", "/k.gpg");
  assert.deepEqual(noMirror.slice(-2), ["bookworm", "/x/rootfs"]);
  assert.ok(noMirror.includes("--keyring=/k.gpg"), "Debian's keyring when the host has no Debian sources");
  assert.ok(!bootstrapArgs("mmdebstrap", recipe, "/x/rootfs", "/k.gpg").some((a) => a.startsWith("--keyring")));
  assert.ok(bootstrapArgs("mmdebstrap", defaultRecipe({ sources: [] }), "/x/rootfs", "/k.gpg").includes("--keyring=/k.gpg"));
});
