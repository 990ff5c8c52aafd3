/**
 * The one error path, end to end in process: what the daemon throws → toWireError / the API's
 * error handler → JSON on the wire → the SDK's errorFromWire. Every API code keeps its status
 * and becomes its SDK class; every internal failure is INTERNAL and carries nothing of the host.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import {
  API_ERROR_STATUS,
  type ApiErrorCode,
  ArchiveInvalidError,
  AtollError,
  AuthenticationError,
  CapacityError,
  ConflictError,
  DAEMON_ERROR_CODES,
  FileSystemError,
  InvalidArgumentError,
  NetworkError,
  NotFoundError,
  SandboxNotRunningError,
  ServerError,
  DaemonRestartedError,
  errorFromWire,
} from "atoll/contract";
import Fastify from "fastify";
import pino from "pino";
import { DaemonError } from "../daemon-error.js";
import { HostNotReadyError } from "../doctor/preflight.js";
import { RecordProtocolError } from "../files/fs-records.js";
import { Ext4CheckError } from "../host/ext4-image.js";
import { LoopAlreadyAttachedError } from "../host/loop-device.js";
import { HostCommandError } from "../host/run-command.js";
import { UidRangeError } from "../host/uid-range.js";
import { ProtocolError } from "../runtime/agent-protocol.js";
import { StartupError } from "../startup-error.js";
import { replyWithError, toWireError } from "./error-mapping.js";

type Cls = abstract new (...args: never[]) => AtollError;

/** What an SDK user must get for each code. A Record: a new code without a line here does not compile. */
const EXPECTED_CLASS: Record<ApiErrorCode, Cls> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  UNAUTHORIZED: AuthenticationError,
  FORBIDDEN: AuthenticationError,
  NOT_FOUND: NotFoundError,
  SANDBOX_NOT_FOUND: NotFoundError,
  VOLUME_NOT_FOUND: NotFoundError,
  VOLUME_NOT_ATTACHED: NotFoundError,
  METHOD_NOT_ALLOWED: AtollError,
  SANDBOX_NOT_RUNNING: SandboxNotRunningError,
  VOLUME_NAME_TAKEN: ConflictError,
  VOLUME_IN_USE: ConflictError,
  VOLUME_BUSY: ConflictError,
  VOLUME_ALREADY_ATTACHED: ConflictError,
  MOUNT_PATH_CONFLICT: ConflictError,
  INSUFFICIENT_STORAGE: CapacityError,
  PAYLOAD_TOO_LARGE: AtollError,
  QUOTA_EXCEEDED: CapacityError,
  ALREADY_EXISTS: FileSystemError,
  PERMISSION_DENIED: FileSystemError,
  IS_A_DIRECTORY: FileSystemError,
  NOT_A_DIRECTORY: FileSystemError,
  DIRECTORY_NOT_EMPTY: FileSystemError,
  READ_ONLY: FileSystemError,
  NO_SPACE: FileSystemError,
  INTERNAL: ServerError,
  HOST_ERROR: ServerError,
  FETCH_FAILED: NetworkError,
  UNAVAILABLE: ServerError,
  DAEMON_RESTARTED: DaemonRestartedError,
  SNAPSHOT_NOT_FOUND: NotFoundError,
  SNAPSHOT_NAME_TAKEN: ConflictError,
  SNAPSHOT_IN_USE: ConflictError,
  ARCHIVE_INVALID: ArchiveInvalidError,
};

/** Server mapping → JSON text → SDK decoding, as a client over HTTP sees it. */
function roundTrip(err: unknown): { status: number; wire: unknown; decoded: AtollError } {
  const { status, body } = toWireError(err, "req-7");
  const wire = JSON.parse(JSON.stringify(body));
  return { status, wire, decoded: errorFromWire(wire, status) };
}

const HOST_SECRETS = /\/var\/lib\/atoll|losetup|secret stderr|e2fsck|\/dev\/loop/;

test("every API code round-trips: its status on the wire, its class, code, message and details in the SDK", () => {
  for (const code of Object.keys(API_ERROR_STATUS) as ApiErrorCode[]) {
    const details = { path: "/data/x", n: 1 };
    const thrown = code === "INVALID_ARGUMENT" ? new InvalidArgumentError("bad size", details) : new AtollError(code, `message of ${code}`, details);
    const { status, wire, decoded } = roundTrip(thrown);
    assert.equal(status, API_ERROR_STATUS[code], code);
    assert.deepEqual(wire, { error: { code, message: thrown.message, details } }, code);
    assert.ok(decoded instanceof EXPECTED_CLASS[code], `${code} decodes to ${decoded.constructor.name}`);
    assert.equal(decoded.constructor, EXPECTED_CLASS[code], code);
    assert.equal(decoded.code, code);
    assert.equal(decoded.status, status, code);
    assert.equal(decoded.message, thrown.message);
    assert.deepEqual(decoded.details, details);
  }
});

test("every internal code is INTERNAL (500) on the wire, with a fixed message and no details", () => {
  for (const code of DAEMON_ERROR_CODES) {
    const thrown = new AtollError(code, "losetup /var/lib/atoll/volumes/vol_1.img: secret stderr", { device: "/dev/loop7" });
    assert.equal(thrown.status, 500);
    const { status, wire, decoded } = roundTrip(thrown);
    assert.equal(status, 500, code);
    assert.deepEqual(Object.keys((wire as { error: object }).error).sort(), ["code", "message"], code);
    assert.doesNotMatch(JSON.stringify(wire), HOST_SECRETS, code);
    assert.match(decoded.message, /request req-7/);
    assert.ok(decoded instanceof ServerError);
    assert.equal(decoded.code, "INTERNAL");
  }
});

test("the daemon's own error classes are Atoll errors with an internal code and leak nothing", () => {
  const cause = new Error("EIO on /var/lib/atoll/volumes/vol_1.img");
  const raised: AtollError[] = [
    new HostCommandError(["losetup", "--find", "/var/lib/atoll/volumes/vol_1.img"], 1, "losetup: secret stderr", { cause }),
    new Ext4CheckError("/var/lib/atoll/volumes/vol_1.img", 8, "e2fsck: secret stderr", { cause }),
    new LoopAlreadyAttachedError("/var/lib/atoll/volumes/vol_1.img", "/dev/loop7"),
    new UidRangeError("range overlaps /etc/subuid: secret stderr"),
    new ProtocolError("invalid frame length 3"),
    new RecordProtocolError("record of 9 bytes is larger than 8"),
    new HostNotReadyError([{ id: "bwrap", title: "bubblewrap", status: "fail", detail: "/usr/bin/bwrap missing", fix: "apt-get install bubblewrap" }]),
    new StartupError("the base image could not be built: /var/lib/atoll/images", "atoll image build", cause),
    new DaemonError("NETWORK_FAILED", "netd exited with 1 before it was ready: /var/lib/atoll/net secret stderr", { cause }),
  ];
  for (const err of raised) {
    assert.ok(err instanceof AtollError, err.name);
    assert.ok((DAEMON_ERROR_CODES as readonly string[]).includes(err.code), `${err.name}: ${err.code}`);
    assert.equal(err.name, err.constructor.name);
    const { status, wire, decoded } = roundTrip(err);
    assert.equal(status, 500, err.name);
    assert.doesNotMatch(JSON.stringify(wire), HOST_SECRETS, err.name);
    assert.equal(decoded.code, "INTERNAL");
  }
  assert.equal(raised[0]!.cause, cause);
  assert.equal(raised[7]!.cause, cause);
});

test("an object that merely carries an API code is not trusted: INTERNAL, not its code", () => {
  const duck = Object.assign(new Error("in use by /var/lib/atoll/x"), { code: "VOLUME_IN_USE", details: { a: 1 } });
  for (const err of [duck, { code: "NOT_FOUND", message: "m" }, new Error("ENOENT: open '/var/lib/atoll/state.db'"), "a string", null]) {
    const { status, wire, decoded } = roundTrip(err);
    assert.equal(status, 500);
    assert.doesNotMatch(JSON.stringify(wire), HOST_SECRETS);
    assert.ok(decoded instanceof ServerError);
    assert.equal(decoded.code, "INTERNAL");
  }
  // An Atoll error raised as INTERNAL on purpose keeps its words (they were written for the user).
  const meant = roundTrip(new ServerError("INTERNAL", "the usage store is closed; restart the daemon"));
  assert.equal(meant.decoded.message, "the usage store is closed; restart the daemon");
});

/** A Fastify app with the API's error handler and a logger whose lines are kept. */
async function appWithLog() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const app = Fastify({ loggerInstance: pino({ level: "debug" }, sink), bodyLimit: 64 });
  app.setErrorHandler(replyWithError);
  app.post("/echo", async (req) => req.body as object);
  app.get("/host", async () => {
    const deep = new Error("EIO deep below", { cause: new Error("the disk said no") });
    throw new HostCommandError(["losetup", "/var/lib/atoll/volumes/vol_1.img"], 1, "losetup: secret stderr", { cause: deep });
  });
  app.get("/duck", async () => {
    throw Object.assign(new Error("nope"), { code: "VOLUME_IN_USE", statusCode: 409 });
  });
  await app.ready();
  return { app, log: () => lines.join("") };
}

test("the API's handler: framework request errors keep their 4xx code; internal failures log the cause chain, not the wire", async () => {
  const { app, log } = await appWithLog();
  try {
    const badJson = await app.inject({ method: "POST", url: "/echo", headers: { "content-type": "application/json" }, payload: "{not json" });
    assert.equal(badJson.statusCode, 400);
    assert.equal(badJson.json().error.code, "INVALID_ARGUMENT");
    const tooLarge = await app.inject({
      method: "POST",
      url: "/echo",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ x: "y".repeat(100) }),
    });
    assert.equal(tooLarge.statusCode, 413);
    assert.ok(errorFromWire(tooLarge.json(), 413) instanceof AtollError);
    assert.equal(tooLarge.json().error.code, "PAYLOAD_TOO_LARGE");

    const duck = await app.inject({ method: "GET", url: "/duck" });
    assert.equal(duck.statusCode, 500);
    assert.equal(duck.json().error.code, "INTERNAL");

    const host = await app.inject({ method: "GET", url: "/host" });
    assert.equal(host.statusCode, 500);
    assert.equal(host.json().error.code, "INTERNAL");
    assert.doesNotMatch(host.body, HOST_SECRETS);
    assert.doesNotMatch(host.body, /EIO|disk said no/);
    // The log has the failure, each cause's message and the request id the client was given.
    const text = log();
    assert.match(text, /losetup: secret stderr/);
    assert.match(text, /EIO deep below/);
    assert.match(text, /the disk said no/);
    const ref = /request (\S+)\)/.exec(host.json().error.message)?.[1];
    assert.ok(ref, host.json().error.message);
    assert.match(text, new RegExp(`"reqId":"${ref}"[^\\n]*request failed`));
  } finally {
    await app.close();
  }
});
