import assert from "node:assert/strict";
import { test } from "node:test";
import { ConflictError, SandboxNotRunningError, errorFromWire } from "./errors.js";
import { STOP_REASONS, describeStopReason, sandboxStoppedMessage } from "./stop-reasons.js";

test("a timeout names the sandbox's timeout setting", () => {
  assert.equal(describeStopReason("timeout", "3s"), "its timeout (3s) expired");
  assert.equal(describeStopReason("timeout", null), "its timeout expired");
  assert.equal(describeStopReason("killed"), STOP_REASONS.killed);
  assert.equal(describeStopReason("protocol-error: bad frame"), "its control channel failed (protocol-error: bad frame)");
  assert.equal(describeStopReason("something-new"), "something-new");
});

test("the messages: before a command, and under a running one", () => {
  assert.equal(
    sandboxStoppedMessage("sbx_1", "timeout", "5m"),
    "Sandbox sbx_1 stopped: its timeout (5m) expired; create a new sandbox (give it a longer timeout in Sandbox.create, or extend it before it expires: sandbox.extendTimeout())",
  );
  assert.equal(sandboxStoppedMessage("sbx_1", "daemon-restart", "5m"), "Sandbox sbx_1 stopped: the daemon restarted; create a new sandbox");
  assert.equal(sandboxStoppedMessage("sbx_1", "timeout", "5m", "running"), "Sandbox sbx_1 stopped while the command was running: its timeout (5m) expired");
});

test("SANDBOX_NOT_RUNNING from the daemon is a SandboxNotRunningError (still a ConflictError) with its stop reason", () => {
  const err = errorFromWire(
    {
      error: {
        code: "SANDBOX_NOT_RUNNING",
        message: "Sandbox sbx_1 stopped: its timeout (5m) expired",
        details: { sandboxId: "sbx_1", stopReason: "timeout", timeout: "5m" },
      },
    },
    409,
  );
  assert.ok(err instanceof SandboxNotRunningError);
  assert.ok(err instanceof ConflictError);
  assert.equal(err.stopReason, "timeout");
  assert.equal(err.status, 409);
  const bare = errorFromWire({ error: { code: "SANDBOX_NOT_RUNNING", message: "Cannot start sh: the sandbox is not running" } }, 0);
  assert.ok(bare instanceof SandboxNotRunningError);
  assert.equal(bare.stopReason, null);
});
