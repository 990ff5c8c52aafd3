import assert from "node:assert/strict";
import { test } from "node:test";
import { HostNotReadyError } from "../doctor/preflight.js";
import { HostCommandError } from "../host/run-command.js";
import { UidRangeError } from "../host/uid-range.js";
import { StartupError, startupStep } from "../startup-error.js";
import { describeStartupFailure } from "./startup-failure.js";

const where = { stateDir: "/var/lib/atoll", host: "127.0.0.1", port: 7420 };
const errno = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${code}: something`), { code, ...extra });

function assertOneLine(text: string): void {
  assert.doesNotMatch(text, /\n/);
  assert.match(text, / → fix: /);
}

test("a port in use names the address and --listen", () => {
  const line = describeStartupFailure(errno("EADDRINUSE", { syscall: "listen", address: "127.0.0.1", port: 7420 }), where);
  assertOneLine(line);
  assert.match(line, /^127\.0\.0\.1:7420 is already in use/);
  assert.match(line, /--listen HOST:PORT/);
});

test("filesystem errors on the state directory name the path and the remedy", () => {
  const ro = describeStartupFailure(errno("EROFS", { path: "/var/lib/atoll/uid-base.tmp", syscall: "open" }), where);
  assertOneLine(ro);
  assert.match(ro, /^\/var\/lib\/atoll\/uid-base\.tmp is on a read-only filesystem/);
  assert.match(describeStartupFailure(errno("ENOSPC", { path: "/var/lib/atoll/token" }), where), /no space left/);
  assert.match(describeStartupFailure(errno("EACCES", { path: "/var/lib/atoll" }), where), /run atoll serve as root/);
});

test("store errors, host commands, start-up steps and host checks", () => {
  assert.match(
    describeStartupFailure(Object.assign(new Error("attempt to write a readonly database"), { code: "SQLITE_READONLY" }), where),
    /the store \/var\/lib\/atoll\/atoll\.db cannot be written/,
  );
  const ip = describeStartupFailure(
    new HostCommandError(["ip", "-n", "x", "-batch", "-"], 255, 'Error: argument "/proc/1/ns/net" is wrong: Invalid "netns" value\n'),
    where,
  );
  assertOneLine(ip);
  assert.match(ip, /^ip failed: Error: argument/);
  const step = describeStartupFailure(new StartupError("the base image could not be built: mmdebstrap failed", "atoll image build"), where);
  assert.equal(step, "the base image could not be built: mmdebstrap failed → fix: atoll image build");
  const host = describeStartupFailure(
    new HostNotReadyError([{ id: "bwrap", title: "bubblewrap", status: "fail", detail: "bwrap is not installed", fix: "apt-get install bubblewrap" }]),
    where,
  );
  assert.equal(host, "bubblewrap: bwrap is not installed → fix: apt-get install bubblewrap");
});

test("a uid range refusal is folded onto one line", () => {
  const line = describeStartupFailure(
    new UidRangeError("range X overlaps ids this host gave others:\n  - /etc/subuid gives alice 1–2\nWhoever holds …\nFix: set ATOLL_UID_BASE=5."),
    where,
  );
  assert.equal(line, "range X overlaps ids this host gave others: /etc/subuid gives alice 1–2; Whoever holds … → fix: set ATOLL_UID_BASE=5.");
});

test("anything else is still one line, pointing at atoll doctor and the debug log", () => {
  const line = describeStartupFailure(new TypeError("Cannot read properties of undefined (reading 'x')\n    at foo (file.js:1:1)"), where);
  assertOneLine(line);
  assert.match(line, /^could not start: Cannot read properties/);
  assert.match(line, /atoll doctor/);
  assertOneLine(describeStartupFailure("a string", where));
});

test("startupStep wraps a failure with what failed and keeps the cause", async () => {
  const cause = new Error("mmdebstrap exited 1\nlots of output");
  const err = await startupStep("the base image could not be built", "atoll image build", () => Promise.reject(cause)).catch((e: unknown) => e);
  assert.ok(err instanceof StartupError);
  assert.equal(err.message, "the base image could not be built: mmdebstrap exited 1 → fix: atoll image build");
  assert.equal(err.cause, cause);
  assert.equal(await startupStep("x", "y", async () => 5), 5);
});
