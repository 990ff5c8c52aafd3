/**
 * What each credential has open right now (docs/api.md "Limits", docs/tenants.md "Revoking"):
 * requests in flight, session WebSockets and event streams, keyed by the API token id and, for
 * dashboard logins, by the session id. Revoking a token or logging out ends them at once (the
 * connection is cut, so a session socket stops taking commands and a stream stops flowing);
 * the next request of that credential is refused by authentication.
 */
import type { Principal } from "../core/token-service.js";

/** Keys a request is tracked under. */
export function credentialKeys(p: Principal): string[] {
  return p.sessionId === undefined ? [`token:${p.tokenId}`] : [`token:${p.tokenId}`, `session:${p.sessionId}`];
}

interface Entry {
  keys: string[];
  end: () => void;
}

export class LiveCredentials {
  private readonly open = new Map<string, Set<Entry>>();
  private readonly sessions = new Map<string, number>();

  /**
   * Tracks something of `principal` that `end` cuts; returns the function that stops tracking
   * it (call it when it finished by itself).
   *
   * @example const untrack = live.track(req.principal, () => req.raw.socket.destroy());
   */
  track(principal: Principal, end: () => void): () => void {
    const entry: Entry = { keys: credentialKeys(principal), end };
    for (const k of entry.keys) {
      let set = this.open.get(k);
      if (!set) {
        set = new Set();
        this.open.set(k, set);
      }
      set.add(entry);
    }
    return () => this.untrack(entry);
  }

  /** Ends everything open under the token; returns how many. */
  endToken(tokenId: string): number {
    return this.end(`token:${tokenId}`);
  }

  /** Ends everything a dashboard login has open; returns how many. */
  endSession(sessionId: string): number {
    return this.end(`session:${sessionId}`);
  }

  /**
   * Counts one more session WebSocket for the token, unless it has `max` already. Returns the
   * release function, or undefined when the cap is reached.
   */
  reserveSession(tokenId: string, max: number): (() => void) | undefined {
    const n = this.sessions.get(tokenId) ?? 0;
    if (n >= max) return undefined;
    this.sessions.set(tokenId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.sessions.get(tokenId) ?? 1) - 1;
      if (left <= 0) this.sessions.delete(tokenId);
      else this.sessions.set(tokenId, left);
    };
  }

  private untrack(entry: Entry): void {
    for (const k of entry.keys) {
      const set = this.open.get(k);
      set?.delete(entry);
      if (set?.size === 0) this.open.delete(k);
    }
  }

  private end(key: string): number {
    const entries = [...(this.open.get(key) ?? [])];
    for (const entry of entries) {
      this.untrack(entry);
      try {
        entry.end();
      } catch {
        /* already gone */
      }
    }
    return entries.length;
  }
}
