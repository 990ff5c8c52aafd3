import type { RuntimeSandbox } from "./drivers.js";

/** What the daemon holds in memory for a sandbox whose processes are alive. */
export interface LiveSandbox {
  id: string;
  tenant: string;
  runtime: RuntimeSandbox;
  timer: NodeJS.Timeout | undefined;
  /** Open session sockets; a "session" sandbox dies when the last one closes. */
  sessions: Set<{ stop(reason: string, timeout?: string): void; close(): void }>;
  everHadSession: boolean;
  /** Set once kill() began, so concurrent callers do not kill twice. */
  stopping: boolean;
  /** Why it is stopping (STOP_REASONS), set with `stopping`: the store has it only once it stopped. */
  stopReason?: string;
}

/** Registry of live sandboxes, shared by the services that need a sandbox's runtime. */
export class LiveSandboxes {
  private readonly byId = new Map<string, LiveSandbox>();

  add(sandbox: LiveSandbox): void {
    this.byId.set(sandbox.id, sandbox);
  }
  get(id: string): LiveSandbox | undefined {
    return this.byId.get(id);
  }
  remove(id: string): void {
    this.byId.delete(id);
  }
  all(): LiveSandbox[] {
    return [...this.byId.values()];
  }
}
