// Batches job outcomes: completions and failures pile up for a few
// milliseconds (or until a batch is full) and are written in one guarded
// statement each, which is most of why draining beats one-write-per-job
// runners. Batches are serialised so outcomes are never written out of order.
import type { DbHandle } from "../db/client.js";
import { completeJobs, failJobs, readOwnSettledJobs, type JobAttempt, type JobFailure } from "../db/jobs-sql.js";
import { withRetries } from "./waker.js";

export type Settlement = "succeeded" | "failed" | "retried" | "lost";

export interface OutcomeBatcherOptions {
  db: DbHandle;
  workerId: string;
  flushSize: number;
  flushDelayMs: number;
  /** Called once per job when its outcome is written (or found to be no longer ours: "lost"); retryDelayMs only for "retried". */
  onSettled(id: string, settlement: Settlement, retryDelayMs?: number): void;
  onError(error: Error): void;
}

export class OutcomeBatcher {
  private completions: JobAttempt[] = [];
  private failures: JobFailure[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: OutcomeBatcherOptions) {}

  recordCompletion(attempt: JobAttempt): void {
    this.completions.push(attempt);
    this.schedule();
  }

  recordFailure(failure: JobFailure): void {
    this.failures.push(failure);
    this.schedule();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Serialised: one batch in flight at a time; whatever piles up meanwhile goes in the next. */
  flush(): Promise<void> {
    this.dispose();
    if (this.flushQueued) return this.flushing;
    this.flushQueued = true;
    this.flushing = this.flushing.then(() => {
      this.flushQueued = false;
      return this.writeBatch();
    });
    return this.flushing;
  }

  private schedule(): void {
    if (this.completions.length + this.failures.length >= this.options.flushSize) {
      void this.flush();
    } else {
      this.timer ??= setTimeout(() => void this.flush(), this.options.flushDelayMs);
    }
  }

  private async writeBatch(): Promise<void> {
    const completions = this.completions;
    const failures = this.failures;
    this.completions = [];
    this.failures = [];
    if (completions.length + failures.length === 0) return;
    const { db, workerId, onSettled } = this.options;
    try {
      const [done, outcomes] = await Promise.all([
        withRetries(() => completeJobs(db.prisma, workerId, completions)),
        withRetries(() => failJobs(db.prisma, workerId, failures)),
      ]);
      const doneIds = new Set(done);
      const statusById = new Map<string, string>(outcomes.map((o) => [o.id, o.status]));
      // Rare: an outcome missing from the write's answer. Either the lease
      // was taken over (really lost) or a retried write had committed the
      // first time; the row tells which.
      const missing = [...completions.filter((c) => !doneIds.has(c.id)), ...failures.filter((f) => !statusById.has(f.id))];
      for (const row of await readOwnSettledJobs(db.prisma, workerId, missing)) {
        if (row.status === "SUCCEEDED") doneIds.add(row.id);
        else statusById.set(row.id, row.status);
      }
      for (const { id } of completions) onSettled(id, doneIds.has(id) ? "succeeded" : "lost");
      for (const failure of failures) {
        const status = statusById.get(failure.id);
        if (!status) onSettled(failure.id, "lost");
        else if (status === "FAILED") onSettled(failure.id, "failed");
        else onSettled(failure.id, "retried", failure.retryDelayMs);
      }
    } catch (error) {
      this.options.onError(error as Error);
    }
  }
}
