/**
 * The contract shared by the daemon and the SDK: error codes and classes, wire types, request
 * schemas, shell quoting and unit parsing. Importable as `atoll/contract`.
 */
export * from "./admin.js";
export * from "./audit.js";
export * from "./backup-schemas.js";
export * from "./error-codes.js";
export * from "./errors.js";
export * from "./fs-errno.js";
export * from "./fs-schemas.js";
export * from "./fs-wire.js";
export * from "./ip-address.js";
export * from "./mount-rules.js";
export * from "./net-rules.js";
export * from "./schemas.js";
export * from "./shell-quote.js";
export * from "./stop-reasons.js";
export { ShellSecret, secret } from "./shell-secret.js";
export * from "./units.js";
export * from "./wire-types.js";
export { checkDenoSlug, toCreateVolumeRequest } from "./deno-volume.js";
