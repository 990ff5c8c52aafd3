/** `sandbox.env`: the sandbox-wide environment that every later command inherits. */
import type { EnvResponse } from "./contract/index.js";
import { type HttpClient, seg } from "./http-client.js";

/**
 * Reads and changes a sandbox's environment variables on the daemon.
 *
 * @example
 *   await sandbox.env.set("API_URL", "http://localhost:8000");
 *   await sandbox.sh`echo $API_URL`;                 // http://localhost:8000
 *   console.log(await sandbox.env.get("API_URL"));
 *   await sandbox.env.delete("API_URL");
 */
export class SandboxEnv {
  readonly #http: HttpClient;
  readonly #path: string;

  /** @internal Use `sandbox.env`. */
  constructor(http: HttpClient, sandboxId: string) {
    this.#http = http;
    this.#path = `/v1/sandboxes/${seg(sandboxId)}/env`;
  }

  /** The value of `name`, or undefined. @example const home = await sandbox.env.get("HOME"); */
  async get(name: string): Promise<string | undefined> {
    return (await this.toObject())[name];
  }

  /** Sets one variable for commands started from now on. @example await sandbox.env.set("DEBUG", "1"); */
  async set(name: string, value: string): Promise<void> {
    await this.#http.request<EnvResponse>("PATCH", this.#path, { body: { set: { [name]: value } } });
  }

  /** Removes one variable. @example await sandbox.env.delete("DEBUG"); */
  async delete(name: string): Promise<void> {
    await this.#http.request<EnvResponse>("PATCH", this.#path, { body: { delete: [name] } });
  }

  /** All variables. @example console.table(await sandbox.env.toObject()); */
  async toObject(): Promise<Record<string, string>> {
    const { env } = await this.#http.request<EnvResponse>("GET", this.#path);
    return Object.assign(Object.create(null) as Record<string, string>, env);
  }
}
