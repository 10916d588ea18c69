// Small timing helpers for the runner: a wake-up that NOTIFY, retry timers
// and stop() can all trigger, and retries for queue statements that hit a
// passing database hiccup.
import { listenForJobs } from "../db/jobs-sql.js";
import { isTransientDbError } from "./transient.js";

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
      const done = () => {
        clearTimeout(timer);
        // A timed-out waiter must leave the list: left there, it would swallow
        // the next wake (which then never sets `pending`) and pile up per poll.
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push(done);
    });
  }

  /** Waiters currently parked (for tests). */
  get waiting(): number {
    return this.waiters.length;
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }
}

/**
 * Runs fn, retrying transient database errors (a restart, failover, lost
 * connection: see transient.ts) with a growing pause, for up to `budgetMs`
 * in all; any other error (a bug in a statement) surfaces at once. A
 * restart takes seconds, so the default budget outlasts one.
 */
export async function withRetries<T>(fn: () => Promise<T>, budgetMs = 30_000, firstPauseMs = 50): Promise<T> {
  const giveUpAt = performance.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const pause = Math.min(2_000, firstPauseMs * 2 ** (attempt - 1));
      if (!isTransientDbError(error) || performance.now() + pause > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/** LISTENs for new jobs, waking `waker`; when LISTEN fails, warns and returns a no-op stop (polling continues). */
export async function listenOrPoll(url: string, waker: Waker, warn: (message: string) => void): Promise<() => Promise<void>> {
  try {
    return await listenForJobs(url, () => waker.wake(), (error) => warn(`LISTEN connection failed (${error.message}); polling only`));
  } catch (error) {
    warn(`could not LISTEN for new jobs (${(error as Error).message}); polling only`);
    return async () => undefined;
  }
}
