/**
 * Runs `fn` on every item, at most `limit` at a time; resolves with the items that failed (each
 * with its error). Used where many independent host or API operations would otherwise run one
 * after another: `atoll sandbox kill --all`, adopting a previous run's sandboxes at start.
 *
 * @example const failed = await forEachConcurrently(ids, 16, (id) => client.killSandbox(id));
 */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<{ item: T; error: unknown }[]> {
  const failed: { item: T; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failed.push({ item, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failed;
}
