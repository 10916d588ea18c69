// Releasing N prepared calls at once, so the database sees them concurrently.
import { warmPool as warmPgPool, type DbHandle } from "../../src/db/client.js";

/** Opens n pool connections at once so no call in the race waits for a connect. */
export async function warmPool(db: DbHandle, n: number): Promise<void> {
  await warmPgPool(db.pool, n);
}

/** Runs fn(i) for i < n, all released by one barrier; settles every call. */
export async function releaseTogether<T>(n: number, fn: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  let open!: () => void;
  const barrier = new Promise<void>((resolve) => (open = resolve));
  const calls = Array.from({ length: n }, async (_, i) => {
    await barrier;
    return fn(i);
  });
  open();
  return Promise.allSettled(calls);
}
