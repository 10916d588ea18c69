// Marks jobs started right before their handlers run, batched: every worker
// slot that picks a job in the same event-loop turn shares one guarded
// UPDATE, which also carries the completions waiting to be written. Only then does the attempt count and the job get the full lease
// (src/db/jobs-sql.ts startJobs); a handler never runs before its start is
// committed, so a crash can never hide a run that happened.
import type { DbHandle } from "../db/client.js";
import { startAndCompleteJobs, startJobs, type JobAttempt } from "../db/jobs-sql.js";
import type { BorrowedCompletions } from "./outcomes.js";
import { withRetries } from "./waker.js";

interface PendingStart {
  attempt: JobAttempt;
  resolve(held: boolean): void;
}

export interface StartBatcherOptions {
  db: DbHandle;
  workerId: string;
  leaseMs: number;
  /** Completions waiting to be written, to send with the start write (OutcomeBatcher.borrowCompletions). */
  borrowCompletions?(): BorrowedCompletions | undefined;
  onError(error: Error): void;
}

export class StartBatcher {
  private pending: PendingStart[] = [];
  private scheduled = false;

  constructor(private readonly options: StartBatcherOptions) {}

  /** Resolves true when the job is marked started and still ours; false when it was lost (or the database failed). */
  start(attempt: JobAttempt): Promise<boolean> {
    return new Promise((resolve) => {
      this.pending.push({ attempt, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const attempts = batch.map((p) => p.attempt);
    try {
      const started = new Set(await this.write(attempts));
      for (const p of batch) p.resolve(started.has(p.attempt.id));
    } catch (error) {
      this.options.onError(error as Error);
      for (const p of batch) p.resolve(false);
    }
  }

  /**
   * The start write, carrying the completions that piled up since the last
   * one: the slots that just finished are the ones asking for a start, so
   * this saves their completion a statement. If the combined write fails
   * for good, the completions go back to the outcome batcher (which has its
   * own job-by-job fallback) and the start is written alone.
   */
  private async write(attempts: JobAttempt[]): Promise<string[]> {
    const { db, workerId, leaseMs } = this.options;
    const borrowed = this.options.borrowCompletions?.();
    if (borrowed) {
      let written: { started: string[]; completed: string[] } | undefined;
      try {
        written = await withRetries(() => startAndCompleteJobs(db.prisma, workerId, attempts, borrowed.completions, leaseMs));
      } catch {
        written = undefined;
      }
      await borrowed.settle(written?.completed);
      if (written) return written.started;
    }
    return withRetries(() => startJobs(db.prisma, workerId, attempts, leaseMs));
  }
}
