// Batches job outcomes: completions and failures pile up for a few
// milliseconds (or until a batch is full) and are written in one guarded
// statement each, which is most of why draining beats one-write-per-job
// runners. Batches are serialised so outcomes are never written out of order.
// A batch PostgreSQL refuses (not a passing outage: a value it cannot store)
// is written again job by job, and a job whose outcome still cannot be
// written is left to its lease: an outcome write never takes the run down.
import type { DbHandle } from "../db/client.js";
import { completeJobs, failJobs, readOwnSettledJobs, type JobAttempt, type JobFailure } from "../db/jobs-sql.js";
import { isTransientDbError } from "./transient.js";
import { withRetries } from "./waker.js";

export type Settlement = "succeeded" | "failed" | "retried" | "lost";

export interface OutcomeBatcherOptions {
  db: DbHandle;
  workerId: string;
  flushSize: number;
  flushDelayMs: number;
  /** Called once per attempt when its outcome is written (or found to be no longer ours: "lost"); retryDelayMs only for "retried". */
  onSettled(attempt: JobAttempt, settlement: Settlement, retryDelayMs?: number): void;
  /** The database stayed unreachable through the retries: the run cannot go on. */
  onError(error: Error): void;
  /** An outcome PostgreSQL refused even on its own; the job is left to its lease. */
  onWarning(message: string): void;
}

export interface BorrowedCompletions {
  completions: JobAttempt[];
  /** The ids the borrower's statement wrote, or undefined when it failed (the completions are then written here). */
  settle(written: readonly string[] | undefined): Promise<void>;
}

export class OutcomeBatcher {
  private completions: JobAttempt[] = [];
  private failures: JobFailure[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private timer?: NodeJS.Timeout;
  /** Settlements of completions lent to a start write, still to come. */
  private readonly borrowed = new Set<Promise<void>>();

  constructor(private readonly options: OutcomeBatcherOptions) {}

  recordCompletion(attempt: JobAttempt): void {
    this.completions.push(attempt);
    this.schedule();
  }

  recordFailure(failure: JobFailure): void {
    this.failures.push({ ...failure, error: sanitiseErrorText(failure.error) });
    this.schedule();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Hands the completions waiting here to a statement that is about to go
   * out anyway (the start write of the slots that just freed up), so they
   * cost no round trip of their own. The borrower calls settle() with the
   * ids its statement wrote, or with undefined when it failed: the
   * completions then come back here and are written as usual.
   */
  borrowCompletions(): BorrowedCompletions | undefined {
    if (this.completions.length === 0) return undefined;
    const completions = this.completions;
    this.completions = [];
    if (this.failures.length === 0) this.dispose();
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    this.borrowed.add(settled);
    return {
      completions,
      settle: async (written) => {
        try {
          if (written) await this.settleWritten(completions, [], new Set(written), new Map());
          else for (const completion of completions) this.recordCompletion(completion);
        } catch (error) {
          this.options.onError(error as Error);
        } finally {
          this.borrowed.delete(settled);
          done();
        }
      },
    };
  }

  /** Serialised: one batch in flight at a time; whatever piles up meanwhile goes in the next. Also waits for borrowed completions. */
  async flush(): Promise<void> {
    await Promise.all(this.borrowed);
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
    try {
      await this.writeOutcomes(completions, failures);
    } catch (error) {
      if (isTransientDbError(error)) {
        this.options.onError(error as Error);
        return;
      }
      // Something in the batch PostgreSQL will not take: find it one by one.
      for (const completion of completions) await this.writeAlone([completion], []);
      for (const failure of failures) await this.writeAlone([], [failure]);
    }
  }

  private async writeAlone(completions: JobAttempt[], failures: JobFailure[]): Promise<void> {
    try {
      await this.writeOutcomes(completions, failures);
    } catch (error) {
      if (isTransientDbError(error)) return this.options.onError(error as Error);
      const job = completions[0] ?? failures[0]!;
      this.options.onWarning(`could not record the outcome of job ${job.id} (${(error as Error).message.split("\n").at(-1)}); it stays RUNNING until its lease expires`);
    }
  }

  private async writeOutcomes(completions: JobAttempt[], failures: JobFailure[]): Promise<void> {
    const { db, workerId } = this.options;
    const [done, outcomes] = await Promise.all([
      withRetries(() => completeJobs(db.prisma, workerId, completions)),
      withRetries(() => failJobs(db.prisma, workerId, failures)),
    ]);
    await this.settleWritten(completions, failures, new Set(done), new Map<string, string>(outcomes.map((o) => [o.id, o.status])));
  }

  private async settleWritten(completions: JobAttempt[], failures: JobFailure[], doneIds: Set<string>, statusById: Map<string, string>): Promise<void> {
    const { db, workerId, onSettled } = this.options;
    // Rare: an outcome missing from the write's answer. Either the lease
    // was taken over (really lost) or a retried write had committed the
    // first time; the row tells which.
    const missing = [...completions.filter((c) => !doneIds.has(c.id)), ...failures.filter((f) => !statusById.has(f.id))];
    for (const row of await withRetries(() => readOwnSettledJobs(db.prisma, workerId, missing))) {
      if (row.status === "SUCCEEDED") doneIds.add(row.id);
      else statusById.set(row.id, row.status);
    }
    for (const completion of completions) onSettled(completion, doneIds.has(completion.id) ? "succeeded" : "lost");
    for (const failure of failures) {
      const status = statusById.get(failure.id);
      if (!status) onSettled(failure, "lost");
      else if (status === "FAILED") onSettled(failure, "failed");
      else onSettled(failure, "retried", failure.retryDelayMs);
    }
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * What PostgreSQL text can hold: U+0000 (which it rejects with 22021) is
 * written as the six characters \u0000, and lone UTF-16 surrogates become
 * U+FFFD. Capped at 2,000 characters.
 */
export function sanitiseErrorText(text: string): string {
  const clean = text.replaceAll("\u0000", "\\u0000").replace(LONE_SURROGATE, "\uFFFD");
  return clean.length > 2_000 ? clean.slice(0, 2_000) : clean;
}
