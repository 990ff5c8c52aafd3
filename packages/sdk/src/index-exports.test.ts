/**
 * Pins the SDK's public runtime surface: adding or removing an export of `atoll` must be a
 * decision (update this list and docs/api.md), not a side effect of the contract growing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

const EXPECTED = [
  "AdminClient",
  "ArchiveInvalidError",
  "AtollError",
  "AuthenticationError",
  "CapacityError",
  "Client",
  "CommandError",
  "CommandTimeoutError",
  "ConflictError",
  "ConnectionError",
  "DaemonRestartedError",
  "DenoRepl",
  "FileSystem",
  "FileSystemError",
  "InvalidArgumentError",
  "KillController",
  "KillSignal",
  "NetworkError",
  "NotFoundError",
  "Sandbox",
  "SandboxCommandError",
  "SandboxDeno",
  "SandboxEnv",
  "SandboxFs",
  "SandboxNotRunningError",
  "Snapshot",
  "ServerError",
  "ShellSecret",
  "Volume",
  "VolumeFs",
  "formatBytes",
  "secret",
];

test("atoll exports exactly the public names", async () => {
  const sdk = await import("./index.js");
  assert.deepEqual(Object.keys(sdk).sort(), [...EXPECTED].sort());
});

test("the contract stays importable on its own entry point", async () => {
  const contract = await import("./contract/index.js");
  for (const name of ["FRAME_STDIN", "ERRNO", "createSandboxSchema", "errorFromWire"]) assert.ok(name in contract, name);
});
