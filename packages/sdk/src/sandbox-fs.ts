/** `sandbox.fs`: file operations inside one running sandbox (docs/files.md). */
import { FileSystem } from "./file-system.js";
import type { HttpClient } from "./http-client.js";
import { seg } from "./http-client.js";

/**
 * The files of a running sandbox, seen exactly as its processes see them: its root, its
 * volumes (read-only ones refuse writes with READ_ONLY), its permissions. Operations act as the
 * sandbox user `app` (uid 1000); `asRoot()` acts as sandbox root. Relative paths start at
 * /home/app.
 *
 * @example
 *   await sandbox.fs.upload("./site", "site");
 *   for await (const f of sandbox.fs.expandGlob("site/**\/*.html")) console.log(f.path);
 *   await sandbox.fs.asRoot().writeTextFile("/etc/motd", "hello\n");
 */
export class SandboxFs extends FileSystem {
  readonly #sandboxId: string;

  /** @internal Use `sandbox.fs`. */
  constructor(http: HttpClient, sandboxId: string, user: "app" | "root" = "app") {
    super(http, { base: `/v1/sandboxes/${seg(sandboxId)}/fs`, home: "/home/app", user });
    this.#sandboxId = sandboxId;
  }

  /** The same operations as sandbox root (uid 0 inside the sandbox, unprivileged on the host). @example await sandbox.fs.asRoot().chown("/srv", 1000, 1000); */
  asRoot(): SandboxFs {
    return new SandboxFs(this.http, this.#sandboxId, "root");
  }
}
