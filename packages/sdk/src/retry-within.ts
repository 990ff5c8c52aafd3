/**
 * The SDK's one retry loop for a daemon that is restarting (its sandboxes outlive it): HTTP
 * requests of a client that reached the daemon before, and sessions whose socket dropped.
 */

/** Pause between attempts: doubles from the first to the last. */
const DELAY_MS = { first: 50, max: 1000 };

/**
 * Calls `attempt` until it resolves. After a failure `verdict(err)` decides: "retry" pauses (50 ms,
 * doubling up to 1 s) and tries again while `windowMs` lasts, past which `err` is thrown; an error
 * is thrown at once.
 *
 * @example
 *   await retryWithin(60_000, () => fetch(url), (e) => (refused(e) ? "retry" : e));
 */
export async function retryWithin<T>(
  windowMs: number,
  attempt: () => Promise<T>,
  verdict: (err: unknown) => "retry" | unknown | Promise<"retry" | unknown>,
): Promise<T> {
  const deadline = Date.now() + windowMs;
  for (let delay = DELAY_MS.first; ; delay = Math.min(delay * 2, DELAY_MS.max)) {
    try {
      return await attempt();
    } catch (err) {
      const v = await verdict(err);
      if (v !== "retry") throw v;
      if (Date.now() + delay > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
