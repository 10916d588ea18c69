// The handler contract for `drain-jobs` (built-in and --handlers modules).
//
//   type JobHandler = (job: JobInfo, ctx: JobHandlerContext) => Promise<void> | void
//
// Resolve to mark the job SUCCEEDED; throw to fail this attempt (retried with
// backoff until maxAttempts, then FAILED with the error's message as
// lastError). A job can run more than once (a worker died after the handler's
// effect but before recording success), so handlers must be idempotent.
import type pg from "pg";
import type { Db } from "../db/client.js";
import type { ClaimedJobRow } from "../db/jobs-sql.js";

/** The job as claimed: `attempts` is 1 on the first run (it includes the current one); `type` is text so types newer than this build still arrive. */
export type JobInfo = ClaimedJobRow;

export interface JobHandlerContext {
  /** Prisma client on the runner's pool. */
  db: Db;
  /** The raw pg pool, for handlers that want plain SQL. */
  pool: pg.Pool;
  workerId: string;
  /** Aborted when the runner gives up waiting for this job (shutdown timeout, time budget). */
  signal: AbortSignal;
  /** Runs the built-in handler for this job's type (rejects when there is none), so overrides can wrap it. */
  runBuiltin(): Promise<void>;
}

export type JobHandler = (job: JobInfo, ctx: JobHandlerContext) => Promise<void> | void;

/** Handlers by BackgroundJobType. */
export type JobHandlerMap = Partial<Record<string, JobHandler>>;
