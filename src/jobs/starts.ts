// Marks jobs started right before their handlers run, batched: every worker
// slot that picks a job in the same event-loop turn shares one guarded
// UPDATE, which also carries the completions waiting to be written. Only
// then does the attempt count and the job get the full lease
// (src/db/jobs-sql.ts startJobs).
//
// A handler never runs before its start write has left this process. With
// a send channel (src/db/send-channel.ts) the slot does not wait for the
// commit: once the statement's bytes are in the kernel, PostgreSQL runs it
// whether or not this process lives on, so a crash still cannot hide a run
// that happened. The runner allows that only while the job's lease is
// certainly still ours (runOnSend); the answer then confirms it, and a job
// the answer does not list is dropped as lost. Without a channel (a
// transaction pooler, TLS, every channel connection gone) the slot waits
// for the commit, as before.
import type { DbHandle } from "../db/client.js";
import { buildStartAndCompleteSql, buildStartSql, splitStartedAndCompleted, startAndCompleteJobs, startJobs, type JobAttempt, type StartOrCompletionRow } from "../db/jobs-sql.js";
import type { SendChannel } from "../db/send-channel.js";
import type { BorrowedCompletions } from "./outcomes.js";
import { withRetries } from "./waker.js";

export interface StartAnswer {
  /** The handler may run now. */
  run: boolean;
  /** Set when it runs before the start write's answer: resolves whether the job was still this worker's. */
  confirmed?: Promise<boolean>;
}

interface PendingStart {
  attempt: JobAttempt;
  /** Asked once the start write has left the process: true = the handler runs now, before the commit. */
  runOnSend?: () => boolean;
  resolve(answer: StartAnswer): void;
}

export interface StartBatcherOptions {
  db: DbHandle;
  workerId: string;
  leaseMs: number;
  /** Dedicated connections for start writes; without one every start waits for its commit. */
  channel?: SendChannel;
  /** Completions waiting to be written, to send with the start write (OutcomeBatcher.borrowCompletions). */
  borrowCompletions?(): BorrowedCompletions | undefined;
  onError(error: Error): void;
}

export class StartBatcher {
  private pending: PendingStart[] = [];
  private scheduled = false;

  constructor(private readonly options: StartBatcherOptions) {}

  /**
   * Resolves { run: true } when the job may start: at once after the write
   * was sent if runOnSend() says so (with `confirmed` to follow), otherwise
   * once it is committed and still ours. { run: false }: lost, or the
   * database failed.
   */
  start(attempt: JobAttempt, runOnSend?: () => boolean): Promise<StartAnswer> {
    return new Promise((resolve) => {
      this.pending.push({ attempt, runOnSend, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const { channel, workerId, leaseMs } = this.options;
    // Every channel connection busy: wait for one rather than fall back to
    // waiting for a commit; the starts asked for meanwhile join this write.
    if (channel) await channel.whenIdle();
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const attempts = batch.map((p) => p.attempt);
    const borrowed = this.options.borrowCompletions?.();
    const sent = channel?.trySend<StartOrCompletionRow>(
      borrowed ? buildStartAndCompleteSql(workerId, attempts, borrowed.completions, leaseMs) : buildStartSql(workerId, attempts, leaseMs),
    );
    const held = this.write(attempts, borrowed, sent?.rows).then(
      (ids) => new Set(ids),
      (error: unknown) => {
        this.options.onError(error as Error);
        return new Set<string>();
      },
    );
    for (const p of batch) {
      const confirmed = held.then((ids) => ids.has(p.attempt.id));
      if (sent?.sent && p.runOnSend?.()) p.resolve({ run: true, confirmed });
      else void confirmed.then((run) => p.resolve({ run }));
    }
  }

  /**
   * The start write (its answer from the channel when it was sent there),
   * carrying the completions that piled up since the last one: the slots
   * that just finished are the ones asking for a start, so this saves their
   * completion a statement. A failed send is retried through the pool. If
   * the combined write fails for good, the completions go back to the
   * outcome batcher (which has its own job-by-job fallback) and the start
   * is written alone.
   */
  private async write(attempts: JobAttempt[], borrowed: BorrowedCompletions | undefined, sent: Promise<StartOrCompletionRow[]> | undefined): Promise<string[]> {
    const { db, workerId, leaseMs } = this.options;
    let first = sent;
    const takeFirst = () => {
      const rows = first;
      first = undefined;
      return rows;
    };
    if (borrowed) {
      let written: { started: string[]; completed: string[] } | undefined;
      try {
        written = await withRetries(async () => {
          const rows = takeFirst();
          return rows ? splitStartedAndCompleted(await rows) : startAndCompleteJobs(db.prisma, workerId, attempts, borrowed.completions, leaseMs);
        });
      } catch {
        written = undefined;
      }
      await borrowed.settle(written?.completed);
      if (written) return written.started;
    }
    return withRetries(async () => {
      const rows = takeFirst();
      return rows ? (await rows).map((r) => r.id) : startJobs(db.prisma, workerId, attempts, leaseMs);
    });
  }
}
