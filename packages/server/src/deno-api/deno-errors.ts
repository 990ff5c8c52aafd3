/**
 * Errors in the shapes Deno's client reads (docs/deno-wire-protocol.md, "Errors"):
 * - REST and refused WebSocket upgrades: a status and `{ code, message }` (the client's
 *   ApiError / ConnectionEstablishmentError); Atoll's UNAUTHORIZED is Deno's INVALID_TOKEN, which
 *   the client turns into its InvalidTokenError;
 * - a failed JSON-RPC method: the result `{ error: { constructorName, name, message, code } }`,
 *   which the client rebuilds as the named Deno error (Deno.errors.NotFound for ENOENT, …).
 */
import { AtollError } from "atoll/contract";
import { toWireError } from "../api/error-mapping.js";

/** Status and body of a Deno-style REST error. */
export function denoRestError(err: unknown, ref?: string): { status: number; body: { code: string; message: string }; internal: boolean } {
  const { status, body, internal } = toWireError(err, ref);
  const code = body.error.code === "UNAUTHORIZED" ? "INVALID_TOKEN" : body.error.code;
  return { status, body: { code, message: body.error.message }, internal };
}

/** An error object as the client's `errorSchema` decodes it. */
export interface DenoErrorValue {
  constructorName: string;
  name: string;
  message: string;
  code: string | null;
}

/** The Deno.errors class each errno becomes (what Deno's own fs APIs throw). */
const ERRNO_CLASS: Record<string, string> = {
  ENOENT: "NotFound",
  EEXIST: "AlreadyExists",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EROFS: "PermissionDenied",
  EISDIR: "IsADirectory",
  ENOTDIR: "NotADirectory",
  ELOOP: "FilesystemLoop",
  EBUSY: "Busy",
  EINVAL: "InvalidData",
};

/**
 * The `{ error }` value of a failed method. File errors carry the errno as `code` ("ENOENT"),
 * as Deno's do; other Atoll errors carry Atoll's code. Internal failures say nothing more than
 * Atoll's API does (toWireError keeps host details in the daemon's log).
 */
export function denoErrorValue(err: unknown): DenoErrorValue {
  if (err instanceof DenoNotSupported) return { constructorName: "NotSupported", name: "NotSupported", message: err.message, code: "ENOTSUP" };
  const { body } = toWireError(err);
  const errno = err instanceof AtollError && typeof err.details?.errno === "string" ? err.details.errno : undefined;
  const cls = errno ? ERRNO_CLASS[errno] : undefined;
  if (cls) return { constructorName: cls, name: cls, message: body.error.message, code: errno! };
  return { constructorName: "Error", name: "Error", message: body.error.message, code: errno ?? body.error.code };
}

/** A method Deno's client may call that Atoll does not offer; answered as Deno.errors.NotSupported. */
export class DenoNotSupported extends Error {
  constructor(what: string) {
    super(`${what} is not available on Atoll (docs/deno-compatibility.md lists what the Deno client can use)`);
  }
}
