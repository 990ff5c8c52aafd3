import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

/**
 * The API token at `file`: read it, or create it (64 hex characters, mode 0600) on first start.
 * Hex keeps it valid as an HTTP header and as a WebSocket subprotocol.
 */
export function loadOrCreateToken(file: string): string {
  try {
    const token = readFileSync(file, "utf8").trim();
    if (token) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const token = randomBytes(32).toString("hex");
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "w" });
  return token;
}
