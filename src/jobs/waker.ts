// Small timing helpers for the runner: a wake-up that NOTIFY, retry timers
// and stop() can all trigger, and retries for queue statements that hit a
// passing database hiccup.

export class Waker {
  private waiters: Array<() => void> = [];
  // A wake that lands while nobody waits (a NOTIFY during a claim) must not
  // be lost, or the next wait would sleep a whole poll interval for nothing.
  private pending = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  wake(): void {
    if (this.waiters.length === 0) {
      this.pending = true;
      return;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Wakes once `delayMs` has passed (a retry of ours falls due). */
  wakeAfter(delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wake();
    }, delayMs + 5);
    timer.unref();
    this.timers.add(timer);
  }

  /** Resolves on the next wake or after timeoutMs, whichever is first. */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }
}

/** Runs fn, retrying up to `tries` times with a growing pause; rethrows the last error. */
export async function withRetries<T>(fn: () => Promise<T>, tries = 4, firstPauseMs = 100): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, firstPauseMs * 2 ** (attempt - 1)));
    }
  }
}
