#!/usr/bin/env node
/**
 * `npm run test:vm` (docs/testing.md): proves the daemon on cgroup v2. Boots a Debian 12 guest
 * (stock Debian kernel, systemd, unified cgroup hierarchy) under QEMU software emulation, runs
 * the daemon and the smoke suite (smoke-suite.ts) from this checkout inside it, and ends with
 * "N passed, N failed" (exit status 1 on any failure). The guest image is cached by its recipe
 * hash ($ATOLL_VM_CACHE_DIR, default /var/cache/atoll/vm), so a second run boots in seconds.
 *
 * Env: ATOLL_VM_MEMORY (guest RAM, default 4G), ATOLL_VM_CPUS (default 2), ATOLL_VM_TIMEOUT_MIN
 * (whole boot, default 25), ATOLL_VM_FILTER and ATOLL_VM_NAME_PATTERN (other tests than the
 * smoke suite: the ATOLL_TEST_FILTER and ATOLL_TEST_NAME_PATTERN of scripts/run-tests.sh).
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findExecutable } from "../image/bootstrap-runner.js";
import { buildImage } from "../image/image-builder.js";
import { DEFAULT_UID_BASE } from "../image/image-recipe.js";
import { makeCheckoutDisk } from "./checkout-disk.js";
import { ensureGuestImage } from "./guest-image.js";
import { DEFAULT_VM_CACHE_DIR } from "./guest-recipe.js";
import { qemuArgs, runQemu } from "./qemu-run.js";
import { smokeFileFilter, smokeNamePattern } from "./smoke-suite.js";
import { formatJobEnv, parseSummary } from "./vm-job.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const started = Date.now();
const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
const say = (line: string) => process.stdout.write(`${line}\n`);

function fail(message: string): never {
  say(`✗ ${message}`);
  say("0 passed, 1 failed");
  process.exit(1);
}

if (process.getuid?.() !== 0) fail("npm run test:vm must run as root (the image build uses chroot and mmdebstrap; the guest's tests need root too)");
if (process.arch !== "x64") fail(`test:vm boots an amd64 Debian guest; this is ${process.arch}`);
const qemu = findExecutable("qemu-system-x86_64");
if (!qemu) fail("qemu-system-x86_64 is not installed: run `bash scripts/setup.sh --vm` (npm run test:vm does)");
const setpriv = findExecutable("setpriv");
if (!setpriv) fail("setpriv (util-linux) is not installed: run `bash scripts/setup.sh --vm`");

// 1. The base image the guest's daemons use (the default uid base: a fresh guest has no other).
let t = Date.now();
const base = await buildImage({ uidBase: DEFAULT_UID_BASE }).catch((err: Error) => fail(`base image: ${err.message}`));
say(`✓ base image ${base.hash}${base.cached ? " (cached)" : ` (built in ${since(t)})`}`);

// 2. The guest image, from Debian's packages, cached by its recipe.
t = Date.now();
const cacheDir = process.env.ATOLL_VM_CACHE_DIR || DEFAULT_VM_CACHE_DIR;
const image = await ensureGuestImage({ cacheDir, baseImage: base, progress: (line) => say(`  vm image: ${line}`) }).catch((err: Error) =>
  fail(`guest image: ${err.message}`),
);
say(`✓ guest image ${image.dir}${image.cached ? " (cached)" : ` (built in ${since(t)})`}`);

// 3. The job: test-results/vm is shared with the guest (job.env in; exit code, TAP files, daemon logs out).
t = Date.now();
const jobDir = join(REPO, "test-results/vm");
rmSync(jobDir, { recursive: true, force: true });
mkdirSync(jobDir, { recursive: true });
const checkoutDisk = await makeCheckoutDisk(REPO, jobDir).catch((err: Error) => fail(`checkout disk: ${err.message}`));
writeFileSync(
  join(jobDir, "job.env"),
  formatJobEnv({
    ATOLL_VM_REPO: REPO,
    ATOLL_VM_SCRIPT: "scripts/vm/guest-tests.sh",
    ATOLL_TEST_RESULTS: "/mnt/job/results",
    ATOLL_TEST_FILTER: process.env.ATOLL_VM_FILTER || smokeFileFilter(),
    ATOLL_TEST_NAME_PATTERN: process.env.ATOLL_VM_NAME_PATTERN || smokeNamePattern(),
    CI: process.env.CI ?? "",
    ...(process.stdout.isTTY ? {} : { NO_COLOR: "1" }),
  }),
);
say(`✓ checkout disk (${since(t)})`);

// 4. Boot; the guest powers off when its job ends.
const memory = process.env.ATOLL_VM_MEMORY || "4G";
const cpus = Number(process.env.ATOLL_VM_CPUS || 2);
const timeoutMs = Number(process.env.ATOLL_VM_TIMEOUT_MIN || 25) * 60_000;
const consoleLog = createWriteStream(join(jobDir, "console.log"));
say(`… booting the guest (QEMU TCG, ${cpus} CPUs, ${memory}, no network device); console in ${join(jobDir, "console.log")}`);
const bootStarted = Date.now();
let firstLine: number | undefined;
const lines: string[] = [];
const exit = await runQemu(
  qemu,
  qemuArgs({ kernel: image.kernel, initrd: image.initrd, disk: image.disk, checkoutDisk, jobDir, memory, cpus, pidFile: join(jobDir, "qemu.pid") }),
  {
    timeoutMs,
    setpriv,
    onLine: (line) => {
      const at = ((Date.now() - bootStarted) / 1000).toFixed(1).padStart(6);
      firstLine ??= Date.now();
      lines.push(line);
      consoleLog.write(`${at} ${line}\n`);
      say(`[vm ${at}] ${line}`);
    },
  },
).catch((err: Error) => fail(err.message));
consoleLog.end();
rmSync(checkoutDisk, { force: true });

// 5. The verdict: the guest's own summary line, and its exit code.
const exitCodeFile = join(jobDir, "exit-code");
const guestCode = existsSync(exitCodeFile) ? Number(readFileSync(exitCodeFile, "utf8").trim()) : undefined;
const summary = parseSummary(lines);
say(
  `test:vm: guest console after ${firstLine ? ((firstLine - bootStarted) / 1000).toFixed(1) : "?"} s, guest ran ${since(bootStarted)}, whole run ${since(started)}`,
);
if (exit.timedOut) say(`✗ the guest did not finish within ${timeoutMs / 60_000} minutes: stopped`);
if (guestCode === undefined) say(`✗ the guest's job never finished (qemu ${exit.signal ?? `exit ${exit.code}`}): see ${join(jobDir, "console.log")}`);
else if (guestCode !== 0 && !summary?.failed)
  say(`✗ the guest's job exited with ${guestCode} (the leak check, or the tests could not run): see ${join(jobDir, "console.log")}`);
// A job that failed without a failed test (no summary, a leak) still counts as one failure.
const failed = summary?.failed || (guestCode === 0 && summary ? 0 : 1);
say(`${summary?.passed ?? 0} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
