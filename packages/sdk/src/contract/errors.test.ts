import assert from "node:assert/strict";
import { test } from "node:test";
import { API_ERROR_STATUS, CLIENT_ERROR_CODES, statusOf } from "./error-codes.js";
import {
  AtollError,
  AuthenticationError,
  CapacityError,
  ConflictError,
  ConnectionError,
  InvalidArgumentError,
  NotFoundError,
  ServerError,
  errorFromWire,
  internalWireError,
} from "./errors.js";

test("every API code maps to a 4xx or 5xx status, and client codes are not API codes", () => {
  for (const [code, status] of Object.entries(API_ERROR_STATUS)) {
    assert.ok(status >= 400 && status < 600, code);
    assert.equal(statusOf(code as keyof typeof API_ERROR_STATUS), status);
  }
  for (const code of CLIENT_ERROR_CODES) assert.ok(!(code in API_ERROR_STATUS));
});

test("bad-input codes are 4xx, host failures 5xx", () => {
  for (const code of ["INVALID_ARGUMENT", "VOLUME_NOT_FOUND", "VOLUME_IN_USE", "VOLUME_BUSY", "INSUFFICIENT_STORAGE", "UNAUTHORIZED"] as const) {
    assert.ok(statusOf(code) < 500, code);
  }
  assert.equal(statusOf("INTERNAL"), 500);
});

test("errorFromWire rebuilds the typed class with code, message and details", () => {
  const cases: [string, new (...a: never[]) => AtollError][] = [
    ["INVALID_ARGUMENT", InvalidArgumentError],
    ["UNAUTHORIZED", AuthenticationError],
    ["VOLUME_NOT_FOUND", NotFoundError],
    ["SANDBOX_NOT_FOUND", NotFoundError],
    ["VOLUME_IN_USE", ConflictError],
    ["VOLUME_BUSY", ConflictError],
    ["INSUFFICIENT_STORAGE", CapacityError],
    ["INTERNAL", ServerError],
  ];
  for (const [code, cls] of cases) {
    const err = errorFromWire({ error: { code, message: "m", details: { x: 1 } } }, 400);
    assert.ok(err instanceof cls, code);
    assert.ok(err instanceof AtollError);
    assert.equal(err.code, code);
    assert.equal(err.message, "m");
    assert.deepEqual(err.details, { x: 1 });
  }
  const odd = errorFromWire("<html>", 502);
  assert.ok(odd instanceof ServerError);
  assert.match(odd.message, /502/);
});

test("toWire round-trips and client-only codes become INTERNAL on the wire", () => {
  const e = new ConflictError("VOLUME_IN_USE", "in use", { sandboxes: ["sbx_1"] });
  assert.deepEqual(e.toWire(), { code: "VOLUME_IN_USE", message: "in use", details: { sandboxes: ["sbx_1"] } });
  assert.equal(e.status, 409);
  const c = new AtollError("ABORTED", "Command was aborted");
  assert.equal(c.status, 0);
});

test("internal codes go on the wire as INTERNAL without their message or details; causes are kept", () => {
  const cause = new Error("EIO");
  const e = new AtollError("HOST_COMMAND_FAILED", "losetup /var/lib/atoll/v.img failed: stderr", { device: "/dev/loop3" }, { cause });
  assert.equal(e.cause, cause);
  assert.equal(e.status, 500);
  assert.deepEqual(e.toWire(), internalWireError());
  assert.doesNotMatch(JSON.stringify(e.toWire()), /losetup|\/var\/lib|loop3/);
  assert.equal(new InvalidArgumentError("bad", undefined, { cause }).cause, cause);
  assert.equal(new ConnectionError("down", undefined, { cause }).cause, cause);
});
