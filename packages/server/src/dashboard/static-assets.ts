import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { NotFoundError } from "atoll/contract";

/** Where the build puts the browser code (tsc) and the CSS/SVG (copied by `npm run build`). */
export const ASSET_DIR = fileURLToPath(new URL("./ui/", import.meta.url));

/**
 * Modules served from the installed SDK's `contract/` directory instead: the dashboard decodes
 * errors with the SDK's own classes (ui/errors.d.ts), and `errors.js` imports `error-codes.js`.
 */
const SDK_CONTRACT_DIR = fileURLToPath(new URL("./", import.meta.resolve("atoll/contract")));
const FROM_SDK = new Set(["errors.js", "error-codes.js"]);

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  map: "application/json; charset=utf-8",
};

/** Only flat names like `main.js`, `style.css`, `icon.svg`: no path can leave ASSET_DIR. */
const NAME = /^[a-z0-9][a-z0-9-]*\.(?:js|css|svg|js\.map)$/;

/** Content and type of a dashboard asset, or NOT_FOUND. */
export async function readAsset(name: string): Promise<{ body: Buffer; type: string }> {
  if (!NAME.test(name)) throw new NotFoundError("NOT_FOUND", `No dashboard asset ${name}`);
  try {
    const body = await readFile(`${FROM_SDK.has(name) ? SDK_CONTRACT_DIR : ASSET_DIR}${name}`);
    return { body, type: TYPES[name.slice(name.lastIndexOf(".") + 1)]! };
  } catch {
    throw new NotFoundError("NOT_FOUND", `No dashboard asset ${name}; run \`npm run build\``);
  }
}
