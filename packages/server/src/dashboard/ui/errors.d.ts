/**
 * Types of the SDK's `contract/errors.js`, which the daemon serves beside the dashboard's code
 * (static-assets.ts serves it and the `error-codes.js` it imports from the installed SDK): the
 * dashboard decodes error bodies with the SDK's own decoder and classes, so it has no error
 * type of its own. Only names that module defines are re-exported here.
 */
export {
  AtollError,
  AuthenticationError,
  ConnectionError,
  ServerError,
  errorFromWire,
} from "atoll/contract";
