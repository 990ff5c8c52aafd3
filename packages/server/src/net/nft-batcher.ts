/**
 * Runs nft scripts for one namespace one `nft` process at a time, each run applying everything
 * that queued meanwhile: a burst of DNS answers admitting addresses (for every sandbox) costs a
 * few nft runs instead of one process each. If a combined run fails, its parts are applied one
 * by one so only the bad part fails.
 */
import type { CommandRunner } from "../host/run-command.js";
import { nftApply } from "./netns-ops.js";

export class NftBatcher {
  private queue: { script: string; done: (err?: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly runner: CommandRunner,
    private readonly namespace: string,
  ) {}

  /**
   * Applies `script` (with whatever else is queued). Resolves once it is in the ruleset.
   *
   * @example await batcher.apply(learnScript(sbx, "203.0.113.7", [[22, 22]]));
   */
  apply(script: string): Promise<void> {
    if (script === "") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ script, done: (err) => (err ? reject(err) : resolve()) });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          await nftApply(this.runner, this.namespace, batch.map((b) => b.script).join(""));
          for (const b of batch) b.done();
        } catch {
          for (const b of batch)
            await nftApply(this.runner, this.namespace, b.script).then(
              () => b.done(),
              (err: unknown) => b.done(err),
            );
        }
      }
    } finally {
      this.running = false;
    }
  }
}
