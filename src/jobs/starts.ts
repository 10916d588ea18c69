// Marks jobs started right before their handlers run, batched: every worker
// slot that picks a job in the same event-loop turn shares one guarded
// UPDATE. Only then does the attempt count and the job get the full lease
// (src/db/jobs-sql.ts startJobs); a handler never runs before its start is
// committed, so a crash can never hide a run that happened.
import type { DbHandle } from "../db/client.js";
import { startJobs, type JobAttempt } from "../db/jobs-sql.js";
import { withRetries } from "./waker.js";

interface PendingStart {
  attempt: JobAttempt;
  resolve(held: boolean): void;
}

export class StartBatcher {
  private pending: PendingStart[] = [];
  private scheduled = false;

  constructor(private readonly options: { db: DbHandle; workerId: string; leaseMs: number; onError(error: Error): void }) {}

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
    const { db, workerId, leaseMs } = this.options;
    try {
      const started = new Set(await withRetries(() => startJobs(db.prisma, workerId, batch.map((p) => p.attempt), leaseMs)));
      for (const p of batch) p.resolve(started.has(p.attempt.id));
    } catch (error) {
      this.options.onError(error as Error);
      for (const p of batch) p.resolve(false);
    }
  }
}
