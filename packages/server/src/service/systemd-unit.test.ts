import assert from "node:assert/strict";
import { test } from "node:test";
import { systemctlPlan } from "./service-install.js";
import { renderUnit, systemdWord } from "./systemd-unit.js";

const spec = { node: "/usr/bin/node", main: "/opt/atoll/main.js", stateDir: "/var/lib/atoll", listen: "127.0.0.1:7420", env: {} };

test("words are quoted and escaped as systemd reads them", () => {
  assert.equal(systemdWord("/var/lib/atoll"), "/var/lib/atoll");
  assert.equal(systemdWord("/srv/my atoll"), '"/srv/my atoll"');
  assert.equal(systemdWord('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(systemdWord("50%"), '"50%%"');
  assert.equal(systemdWord("$HOME"), '"$$HOME"');
  assert.throws(() => systemdWord("a\nExecStartPre=/bin/evil"), { code: "INVALID_ARGUMENT" });
});

test("the unit runs serve with the given state directory and address, restarts on failure and kills only the daemon", () => {
  const unit = renderUnit({ ...spec, stateDir: "/srv/my atoll", env: { ATOLL_NETWORK: "off" } });
  const lines = unit.split("\n");
  assert.ok(lines.includes('ExecStart=/usr/bin/node /opt/atoll/main.js serve --state-dir "/srv/my atoll" --listen 127.0.0.1:7420'));
  for (const line of ["Restart=on-failure", "KillMode=process", "StandardOutput=journal", "Environment=ATOLL_NETWORK=off", "WantedBy=multi-user.target"])
    assert.ok(lines.includes(line), line);
  assert.throws(() => renderUnit({ ...spec, stateDir: "var/lib/atoll" }), { code: "INVALID_ARGUMENT" });
  assert.throws(() => renderUnit({ ...spec, env: { PATH: "/tmp" } }), { code: "INVALID_ARGUMENT" }, "only ATOLL_* settings");
});

test("systemctl calls: enable --now on a running systemd, --root enable into a tree, refused without systemd", () => {
  const running = { systemdRunning: true, systemctlInstalled: true };
  assert.deepEqual(systemctlPlan("install", { name: "atoll" }, running), [["daemon-reload"], ["enable", "--now", "atoll.service"]]);
  assert.deepEqual(systemctlPlan("uninstall", { name: "atoll" }, running), [["disable", "--now", "atoll.service"]]);
  assert.deepEqual(systemctlPlan("install", { name: "atoll", root: "/mnt" }, { systemdRunning: false, systemctlInstalled: true }), [
    ["--root=/mnt", "enable", "atoll.service"],
  ]);
  assert.deepEqual(systemctlPlan("install", { name: "atoll", root: "/mnt" }, { systemdRunning: false, systemctlInstalled: false }), []);
  assert.throws(() => systemctlPlan("install", { name: "atoll" }, { systemdRunning: false, systemctlInstalled: true }), /systemd is not running/);
});
