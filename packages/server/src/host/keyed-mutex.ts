/**
 * A per-key async mutex: `run(key, fn)` calls for the same key run one after another in call
 * order; different keys run concurrently. Used to serialise host operations on one resource
 * (one volume, one image file) inside this process.
 */
export class KeyedMutex {
  /** Tail of the queue of each key that has work pending or running. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `fn` once every earlier `run` with the same key has settled, and returns its result.
   * A failure of an earlier call does not affect later ones.
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    // The queue continues whether `fn` resolves or rejects; the caller sees its own outcome.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** true while some `run` for `key` is queued or running. */
  isBusy(key: string): boolean {
    return this.tails.has(key);
  }
}
