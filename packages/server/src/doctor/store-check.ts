/**
 * The store's schema version against this release's (docs/operations.md, "Upgrading"): older is
 * migrated at start, newer is refused. Read without writing (store/schema-version.ts).
 */
import { join } from "node:path";
import { MIGRATIONS } from "../store/migrations.js";
import { storedSchemaVersion } from "../store/schema-version.js";
import { type Check, type Verdict, fail, ok } from "./check-types.js";
import { errnoText } from "./host-probes.js";

/** `stored`: the store's version (0: none yet); `known`: the newest this release knows. */
export function judgeStoreSchema(file: string, stored: number, known: number): Verdict {
  if (stored === 0) return ok(`no store yet at ${file}: the daemon creates it (schema version ${known})`);
  if (stored > known) {
    return fail(
      `${file} has schema version ${stored}, newer than this release knows (${known}): a newer Atoll release used it, and downgrades are refused`,
      "run the newer release again, or point --state-dir at a backup made before the upgrade",
    );
  }
  if (stored < known) return ok(`${file} has schema version ${stored}: the daemon migrates it to ${known} at start`);
  return ok(`${file} has schema version ${known}, this release's`);
}

export const storeCheck: Check = {
  id: "store",
  title: "store schema",
  atStart: false, // the daemon checks it first thing, with its own message
  run: async (ctx) => {
    const file = join(ctx.stateDir, "atoll.db");
    try {
      return judgeStoreSchema(file, storedSchemaVersion(file), MIGRATIONS.length);
    } catch (err) {
      return fail(
        `cannot read the schema version of ${file}: ${errnoText(err)}`,
        "check the state directory (see above); restore the store from a backup if it is damaged",
      );
    }
  },
};
