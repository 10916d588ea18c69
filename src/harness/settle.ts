// Settling before judging. A receiver may write after it answers (a job
// enqueued in Next.js `after()` / `waitUntil`, a queue consumer): reading the
// database the instant the last answer arrives would judge a correct
// receiver mid-flight, and blame its late rows on the next case. So the
// case's rows are read until two reads a settle window apart agree (bounded
// by a timeout), and the verdict is judged on the last read.

export interface SettleOptions {
  /** Two reads this far apart must agree (0: one read, no waiting). */
  windowMs: number;
  /** Give up waiting after this long; the verdict is then inconclusive. */
  timeoutMs: number;
}

/** In-process, the built-in router writes everything before it answers. */
export const IN_PROCESS_SETTLE: SettleOptions = { windowMs: 0, timeoutMs: 10_000 };
/** Over HTTP: long enough for an `after()` enqueue, short enough for many rounds. */
export const HTTP_SETTLE: SettleOptions = { windowMs: 100, timeoutMs: 10_000 };

export interface Settled<T> {
  value: T;
  /** From the first read to the read judged. */
  settledMs: number;
  /** False when the rows were still changing at the timeout. */
  settled: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads until two consecutive reads have the same fingerprint. */
export async function waitUntilSettled<T>(read: () => Promise<T>, fingerprint: (value: T) => string, options: SettleOptions): Promise<Settled<T>> {
  const started = performance.now();
  let value = await read();
  if (options.windowMs <= 0) return { value, settledMs: 0, settled: true };
  for (;;) {
    await sleep(options.windowMs);
    const next = await read();
    const same = fingerprint(next) === fingerprint(value);
    value = next;
    const elapsed = performance.now() - started;
    if (same) return { value, settledMs: Math.round(elapsed), settled: true };
    if (elapsed >= options.timeoutMs) return { value, settledMs: Math.round(elapsed), settled: false };
  }
}
