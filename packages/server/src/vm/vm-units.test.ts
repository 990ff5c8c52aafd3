import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseShowDepends } from "./guest-kernel.js";
import { guestRecipe, guestRecipeHash, parseCandidateVersion, parseKernelDepends } from "./guest-recipe.js";
import { qemuArgs } from "./qemu-run.js";
import { SMOKE_SUITE, smokeFileFilter, smokeNamePattern } from "./smoke-suite.js";
import { formatJobEnv, parseSummary } from "./vm-job.js";

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

test("the kernel package and its version come from apt-cache's output", () => {
  assert.equal(parseKernelDepends("linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n"), "linux-image-6.1.0-57-amd64");
  assert.throws(() => parseKernelDepends("linux-image-amd64\n  Depends: <linux-image>\n"), /no versioned kernel package/);
  assert.equal(parseCandidateVersion("linux-image-6.1.0-57-amd64:\n  Installed: (none)\n  Candidate: 6.1.192-3\n"), "6.1.192-3");
  assert.throws(() => parseCandidateVersion("x:\n  Installed: (none)\n  Candidate: (none)\n"), /no candidate/);
});

test("the guest image's hash changes with the kernel, the base image and node, and only with them", () => {
  const kernel = { package: "linux-image-6.1.0-57-amd64", version: "6.1.192-3" };
  const node = { version: "v20.20.2", sizeBytes: 100 };
  const h = guestRecipeHash(guestRecipe(kernel, "eee68a13690bd161", node));
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(guestRecipeHash(guestRecipe({ ...kernel }, "eee68a13690bd161", { ...node })), h);
  assert.notEqual(guestRecipeHash(guestRecipe({ ...kernel, version: "6.1.193-1" }, "eee68a13690bd161", node)), h);
  assert.notEqual(guestRecipeHash(guestRecipe(kernel, "b61474da72b91e2b", node)), h);
  assert.notEqual(guestRecipeHash(guestRecipe(kernel, "eee68a13690bd161", { ...node, version: "v20.20.3" })), h);
});

test("modprobe --show-depends output becomes module paths in load order, built-ins skipped", () => {
  const out = "insmod /lib/modules/6.1/kernel/fs/jbd2/jbd2.ko \nbuiltin crc32c\ninsmod /lib/modules/6.1/kernel/fs/ext4/ext4.ko \n";
  assert.deepEqual(parseShowDepends(out), ["/lib/modules/6.1/kernel/fs/jbd2/jbd2.ko", "/lib/modules/6.1/kernel/fs/ext4/ext4.ko"]);
});

test("the guest gets no network device, and its root disk is never written", () => {
  const args = qemuArgs({
    kernel: "/c/vmlinux",
    initrd: "/c/initrd.gz",
    disk: "/c/disk.img",
    checkoutDisk: "/r/a,b/checkout.img",
    jobDir: "/r/vm",
    memory: "4G",
    cpus: 2,
    pidFile: "/r/vm/qemu.pid",
  });
  assert.equal(args[args.indexOf("-nic") + 1], "none");
  assert.ok(args.includes("-nodefaults"));
  assert.ok(!args.some((a) => /^-(netdev|net|device)$/.test(a)), args.join(" "));
  assert.ok(args.includes("file=/c/disk.img,if=virtio,format=raw,snapshot=on"));
  assert.ok(args.includes("file=/r/a,,b/checkout.img,if=virtio,format=raw,readonly=on"), "a comma in a path is escaped");
});

test("every smoke test exists in its source file, and the filters select exactly those", () => {
  const filter = new RegExp(smokeFileFilter());
  const names = new RegExp(smokeNamePattern());
  for (const { file, tests } of SMOKE_SUITE) {
    const source = readFileSync(path.join(SRC, `${file}.ts`), "utf8");
    assert.ok(filter.test(`packages/server/dist/${file}.js`), file);
    for (const name of tests) {
      assert.ok(source.includes(JSON.stringify(name)) || source.includes(`"${name}"`), `${file}: no test named ${name}`);
      assert.ok(names.test(name), name);
      assert.ok(!names.test(`${name} and more`), name);
    }
  }
  assert.ok(!filter.test("packages/server/dist/runtime/launcher-watch.test.js"));
  assert.ok(existsSync(path.join(SRC, "../../../scripts/vm/guest-tests.sh")));
});

test("job.env survives bash with quotes, regex characters and spaces in its values", () => {
  const vars = { ATOLL_TEST_NAME_PATTERN: smokeNamePattern(), ATOLL_VM_REPO: "/work/it's here" };
  const printed = execFileSync("bash", ["-c", `set -a; eval "$(cat)"; printf '%s\\n%s' "$ATOLL_TEST_NAME_PATTERN" "$ATOLL_VM_REPO"`], {
    input: formatJobEnv(vars),
    encoding: "utf8",
  });
  assert.equal(printed, `${vars.ATOLL_TEST_NAME_PATTERN}\n${vars.ATOLL_VM_REPO}`);
  assert.throws(() => formatJobEnv({ "BAD NAME": "x" }), /bad job variable/);
});

test("the guest's verdict is its last summary line", () => {
  assert.deepEqual(parseSummary(["3 passed, 1 failed", "noise", " 12 passed, 0 failed ", "[ 20.1] reboot: Power down"]), { passed: 12, failed: 0 });
  assert.equal(parseSummary(["no summary"]), undefined);
});
